"""ReNet down-sampling layer (Visin et al., 2015), the RNNPool paper's Table 2 comparator.

`ReNet: A Recurrent Neural Network Based Alternative to Convolutional Networks
<https://arxiv.org/abs/1505.00393>`_.

The map is cut into non-overlapping ``p x p`` patches; each patch, flattened to a
``C * p * p`` vector, is one element of a grid of ``H / p x W / p`` elements. A bidirectional
RNN sweeps every grid row (left to right and right to left, hidden ``h1`` each) and writes
both hidden states at every element (``2 * h1`` features); a second bidirectional RNN sweeps
every grid column of that map (top-down and bottom-up, hidden ``h2``). The output has
``2 * h2`` channels at stride ``p``.

Unlike RNNPool, ReNet keeps every intermediate hidden state (not only the last one of a
sequence) and its sweeps run across the whole image, so the whole input map is needed before
the column sweep can start.
"""
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import Tensor

from .cells import RNN_CELLS, BaseRNNCell, build_rnn_cell


def _positive_pair(value: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError(f'ReNet: {name} must be a positive int or a pair of them, got {value!r}')
    return int(value[0]), int(value[1])


def _sweep(forward_cell: BaseRNNCell, backward_cell: BaseRNNCell, seq: Tensor) -> Tensor:
    """Bidirectional sweep keeping every state.

    Args:
        seq (Tensor): ``(T, M, I)`` sequences.

    Returns:
        Tensor: ``(T, M, 2 H)``: forward state at ``t`` then backward state at ``t``.
    """
    outputs: List[List[Tensor]] = []
    for cell, order in ((forward_cell, range(seq.shape[0])),
                        (backward_cell, range(seq.shape[0] - 1, -1, -1))):
        wx = cell.input_projection(seq)  # (T, M, G*H), once for all steps
        state = None
        states = [None] * seq.shape[0]
        for t in order:
            state = cell.step(wx[t], state)
            states[t] = state[0]
        outputs.append(states)
    return torch.cat([torch.stack(outputs[0]), torch.stack(outputs[1])], -1)


@MODELS.register_module()
class ReNet(nn.Module):
    """ReNet layer: a row sweep then a column sweep of bidirectional RNNs over patches.

    Registered in MMEngine's root ``MODELS`` like :class:`~mmdet_rnnpool.ops.RNNPool`.

    Args:
        in_channels (int): Input channels ``C``.
        hidden_channels (int | tuple[int, int]): Hidden sizes ``(h1, h2)`` of the row and the
            column RNNs (an int sets both). Defaults to (32, 32).
        patch_size (int | tuple[int, int]): Non-overlapping patch size, which is also the
            stride. Defaults to 4.
        cell (str): ``'fastgrnn'``, ``'gru'`` or ``'lstm'``. Defaults to ``'gru'`` (Visin et
            al. used gated units).

    Attributes:
        out_channels (int): ``2 * h2``.
        stride (tuple[int, int]): Equals ``patch_size``.

    A map whose size is not a multiple of the patch is zero-padded at the bottom / right (the
    output size is ``ceil(H / p)``).
    """

    def __init__(self,
                 in_channels: int,
                 hidden_channels: Union[int, Sequence[int]] = (32, 32),
                 patch_size: Union[int, Sequence[int]] = 4,
                 cell: str = 'gru') -> None:
        super().__init__()
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels <= 0:
            raise ValueError(f'ReNet: in_channels must be a positive int, got {in_channels!r}')
        h1, h2 = _positive_pair(hidden_channels, 'hidden_channels')
        self.patch_size = _positive_pair(patch_size, 'patch_size')
        self.stride = self.patch_size
        if not isinstance(cell, str) or cell.lower() not in RNN_CELLS:
            raise ValueError(f'ReNet: cell must be one of {sorted(RNN_CELLS)}, got {cell!r}')
        self.in_channels = in_channels
        self.hidden_channels = (h1, h2)
        self.out_channels = 2 * h2
        self.cell = cell.lower()
        patch_values = in_channels * self.patch_size[0] * self.patch_size[1]
        self.row_forward = build_rnn_cell(self.cell, patch_values, h1)
        self.row_backward = build_rnn_cell(self.cell, patch_values, h1)
        self.col_forward = build_rnn_cell(self.cell, 2 * h1, h2)
        self.col_backward = build_rnn_cell(self.cell, 2 * h1, h2)

    def output_size(self, in_h: int, in_w: int) -> Tuple[int, int]:
        """Spatial output size ``(ceil(H / p_h), ceil(W / p_w))``."""
        return -(-in_h // self.patch_size[0]), -(-in_w // self.patch_size[1])

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(N, C, H, W)`` to ``(N, 2 * h2, ceil(H / p), ceil(W / p))``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'ReNet: expected input (N, {self.in_channels}, H, W), got shape '
                             f'{tuple(x.shape)}')
        batch = x.shape[0]
        (ph, pw), (out_h, out_w) = self.patch_size, self.output_size(x.shape[2], x.shape[3])
        x = F.pad(x, (0, out_w * pw - x.shape[3], 0, out_h * ph - x.shape[2]))
        # (N, C * ph * pw, out_h * out_w): one flattened patch per grid element.
        patches = F.unfold(x, (ph, pw), stride=(ph, pw))
        grid = patches.view(batch, -1, out_h, out_w)
        # Row sweep: sequences along the width, one per (image, grid row).
        rows = grid.permute(3, 0, 2, 1).reshape(out_w, batch * out_h, -1)
        rows = _sweep(self.row_forward, self.row_backward, rows)  # (out_w, N*out_h, 2 h1)
        rows = rows.view(out_w, batch, out_h, -1)
        # Column sweep: sequences along the height, one per (image, grid column).
        cols = rows.permute(2, 1, 0, 3).reshape(out_h, batch * out_w, -1)
        cols = _sweep(self.col_forward, self.col_backward, cols)  # (out_h, N*out_w, 2 h2)
        return cols.view(out_h, batch, out_w, -1).permute(1, 3, 0, 2).contiguous()

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, '
                f'patch_size={self.patch_size}, cell={self.cell!r}')
