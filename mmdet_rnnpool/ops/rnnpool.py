"""RNNPool: non-linear pooling with two RNNs (Saha et al., NeurIPS 2020).

`RNNPool: Efficient Non-linear Pooling for RAM Constrained Inference
<https://arxiv.org/abs/2002.11921>`_.

For every ``r x c`` patch of the (zero-padded) input, RNN1 (hidden ``h1``) runs along each of
its ``r`` rows and each of its ``c`` columns, with shared weights, keeping the last state; RNN2
(hidden ``h2``) runs over the ``r`` row summaries forwards and backwards, and over the ``c``
column summaries forwards and backwards, with one set of weights. The output pixel is
``[rows-forward, rows-backward, cols-forward, cols-backward]``, ``4 * h2`` channels.

How it is vectorised (the result equals the per-patch algorithm exactly):

* ``W x`` is computed once per pixel over the whole map (per image, a batched matrix product),
  then zero-padded (a zero pixel projects to zero; the biases are added inside the
  recurrence); the same pad crops the rows / columns that no patch visits.
* A patch row is a horizontal run of ``c`` pixels starting at a patch's left edge; patches that
  overlap vertically share their rows, so RNN1 runs once per (image row, patch column start)
  and once per (image column, patch row start) -- not once per patch row -- with every such
  sequence of the batch in one batch (features first, so each gate is a contiguous block).
  The per-step inputs are windows of the projected map.
* RNN2's projection is likewise computed once per RNN1 summary and read per patch; the
  forward and backward passes over a patch's summaries run as one batch.

On CPU (float32 / float64) FastGRNN runs in a C++ kernel (:mod:`.cpu_kernels`, built on first
use): it reads every window straight from the map (a tile's windows are a few runs of
neighbouring windows: vector copies, or permutes for strided window starts), runs the
sequences in tiles of 64 whose state stays in cache for all their steps, and its backward
recomputes a tile's steps instead of storing them and adds the windows' gradient straight into
the map's. There (:func:`_rnn_pool2d_kernel`) RNN1's step inputs are written straight into
the feature-first map, one product per image, and each map's window sets (RNN1's rows and
columns; RNN2's forward and backward runs) are one autograd node sharing one gradient of the
map. Elsewhere (other
devices, GRU / LSTM, or where the kernel cannot be built) the windows are materialised
(``unfold``) and the cells step in Python, one time step at a time over all sequences;
FastGRNN then trains through a hand-written fused backward (see
:class:`~mmdet_rnnpool.ops.cells.FastGRNNCell`).

ONNX: the layer exports with standard ops only (MatMul/Gemm, Pad, Slice, Gather, Sigmoid, Clip,
elementwise). On torch 2.13 both exporters work: ``torch.onnx.export(pool, (x,), path,
dynamo=False, opset_version=17)`` (TorchScript-based, about 1 s, deprecated by torch) and
``dynamo=True`` with ``opset_version >= 18`` (its opset-17 down-conversion fails on ``Pad``;
several seconds). While a tracer or exporter records, the Python path runs: patch windows are
taken with strided slices instead of ``unfold`` (the legacy exporter has no ``Unfold``), the
input is cropped by slicing, and the cells use plain autograd steps.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import Tensor

from .cells import RNN_CELLS, BaseRNNCell, _is_tracing, build_rnn_cell, run_recurrence

IntOrPair = Union[int, Sequence[int]]


def _to_pair(value: IntOrPair, name: str) -> Tuple[int, int]:
    """Turn an int or a pair of ints into a pair, naming ``name`` on bad input."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return int(value[0]), int(value[1])
    raise ValueError(f'RNNPool: {name} must be an int or a pair of ints, got {value!r}')


def pool_output_size(in_size: int, kernel_size: int, stride: int, padding: int,
                     ceil_mode: bool = False) -> int:
    """Output length of a pooling window along one dim, by ``nn.MaxPool2d``'s rule.

    ``floor_or_ceil((in + 2 p - k) / s) + 1``, and in ceil mode a last window that would
    start in the right padding is dropped.

    Args:
        in_size (int): Input length.
        kernel_size (int): Window length.
        stride (int): Window step.
        padding (int): Zero padding on both sides.
        ceil_mode (bool): Round up instead of down. Defaults to False.

    Returns:
        int: Output length (may be < 1 when the input is too small).
    """
    span = in_size + 2 * padding - kernel_size
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= in_size + padding:
            out -= 1
    else:
        out = span // stride + 1
    return out


def _check_geometry(kernel_size: IntOrPair, stride: IntOrPair,
                    padding: IntOrPair) -> Tuple[Tuple[int, int], ...]:
    """Validate the window geometry; return ``kernel_size``, ``stride``, ``padding`` pairs."""
    kernel = _to_pair(kernel_size, 'kernel_size')
    step = _to_pair(stride, 'stride')
    pad = _to_pair(padding, 'padding')
    for dim, (k, s, p) in enumerate(zip(kernel, step, pad)):
        if k <= 0:
            raise ValueError(f'RNNPool: kernel_size must be positive, got {kernel}')
        if not 0 < s <= k:
            raise ValueError(f'RNNPool: stride {step} must be positive and at most '
                             f'kernel_size {kernel} (dim {dim}), or pixels between patches '
                             'would be skipped')
        if not 0 <= 2 * p <= k:
            raise ValueError(f'RNNPool: padding {pad} must be non-negative and at most half '
                             f'of kernel_size {kernel} (dim {dim})')
    return kernel, step, pad


def _check_cells(rnn1: BaseRNNCell, rnn2: BaseRNNCell) -> None:
    if rnn2.input_size != rnn1.hidden_size:
        raise ValueError(f'RNNPool: rnn2.input_size ({rnn2.input_size}) must equal '
                         f'rnn1.hidden_size ({rnn1.hidden_size})')


def _windows(feature_map: Tensor, dim: int, size: int, step: int) -> Tensor:
    """Sliding windows along ``dim`` (2 or 3) of a ``(K, N, A, B)`` map as step inputs.

    Returns:
        Tensor: ``(K, size, L)``: entry ``[:, t, l]`` is element ``t`` of window ``l``; the
        windows ``l`` are ordered like the map with ``dim`` replaced by the window index.
    """
    if _is_tracing():
        # Exporters get strided slices (ONNX Slice): the legacy exporter has no Unfold.
        count = (feature_map.shape[dim] - size) // step + 1
        span = (count - 1) * step + 1
        windows = torch.stack([
            feature_map.narrow(dim, t, span)[:, :, ::step] if dim == 2 else
            feature_map.narrow(dim, t, span)[:, :, :, ::step] for t in range(size)
        ], 1)
        return windows.reshape(feature_map.shape[0], size, -1)
    return _Windows.apply(feature_map, dim, size, step)


class _Windows(torch.autograd.Function):
    """``unfold`` windows as ``(K, size, L)``, with a backward of strided in-place adds.

    torch's generic ``unfold_backward`` is several times slower than ``size`` strided adds.
    """

    @staticmethod
    def forward(ctx, feature_map: Tensor, dim: int, size: int, step: int) -> Tensor:
        ctx.shape, ctx.dim, ctx.size, ctx.step = feature_map.shape, dim, size, step
        windows = feature_map.unfold(dim, size, step)  # (K, N, ..., size) -- a view
        return windows.permute(0, 4, 1, 2, 3).reshape(feature_map.shape[0], size, -1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        dim, size, step = ctx.dim, ctx.size, ctx.step
        count = (ctx.shape[dim] - size) // step + 1
        grad_map = grad.new_empty(ctx.shape)
        out_shape = list(ctx.shape)
        out_shape[dim] = count
        grad = grad.view(ctx.shape[0], size, *out_shape[1:])
        span = (count - 1) * step + 1
        # Elements t < step of the windows tile [0, count * step) without overlap: they are
        # copied, so only the tail past it needs zeros before the remaining elements add up.
        grad_map.narrow(dim, count * step, ctx.shape[dim] - count * step).zero_()
        for t in range(size):
            target = grad_map.narrow(dim, t, span)
            target = target[:, :, ::step] if dim == 2 else target[:, :, :, ::step]
            if t < step:
                target.copy_(grad[:, t])
            else:
                target.add_(grad[:, t])
        return grad_map, None, None, None


def _window_recurrence(cell: BaseRNNCell, feature_map: Tensor, dim: int, size: int, step: int,
                       consts, both_ways: bool = False) -> Tensor:
    """``cell`` over the windows of ``feature_map`` (see :func:`_windows`): last ``h``.

    With ``both_ways``, also over each window backwards: ``(H, 2 L)``, forward runs first.
    """
    window_recurrence = getattr(cell, 'window_recurrence', None)
    if window_recurrence is not None:  # read straight from the map (C++ kernel)
        last = window_recurrence(feature_map, dim, size, step, consts)
        if last is not None:
            if not both_ways:
                return last
            backward = window_recurrence(feature_map, dim, size, step, consts, reverse=True)
            return torch.cat([last, backward], 1)
    seq = _windows(feature_map, dim, size, step)
    if both_ways:  # in one batch: step a reads element a / size - 1 - a
        if _is_tracing():  # a Gather for the exporters
            backward_order = torch.tensor(list(range(size - 1, -1, -1)), device=seq.device)
            reversed_seq = seq.index_select(1, backward_order)
        else:  # flip's backward is a flip, index_select's a zero fill and an index_add
            reversed_seq = seq.flip(1)
        seq = torch.cat([seq, reversed_seq], 2)
    return run_recurrence(cell, seq, consts)


def rnn_pool2d(x: Tensor,
               rnn1: BaseRNNCell,
               rnn2: BaseRNNCell,
               kernel_size: IntOrPair,
               stride: IntOrPair,
               padding: IntOrPair = 0,
               ceil_mode: bool = False) -> Tensor:
    """Functional RNNPool over a feature map.

    Args:
        x (Tensor): Input ``(N, C, H, W)`` with ``C == rnn1.input_size``.
        rnn1 (BaseRNNCell): Cell run along patch rows and columns.
        rnn2 (BaseRNNCell): Cell run over the row / column summaries; its ``input_size`` is
            ``rnn1.hidden_size``.
        kernel_size (int | tuple[int, int]): Patch size ``(r, c)``.
        stride (int | tuple[int, int]): Patch step.
        padding (int | tuple[int, int]): Zero padding on each side. Defaults to 0.
        ceil_mode (bool): ``nn.MaxPool2d``'s ceil mode; windows that reach past the bottom /
            right padding see zeros there. Defaults to False.

    Returns:
        Tensor: ``(N, 4 * rnn2.hidden_size, H_out, W_out)``, channels ordered
        [rows-forward, rows-backward, cols-forward, cols-backward].
    """
    (kh, kw), (sh, sw), (ph, pw) = _check_geometry(kernel_size, stride, padding)
    _check_cells(rnn1, rnn2)
    if x.dim() != 4:
        raise ValueError(f'RNNPool: input must be 4-D (N, C, H, W), got shape {tuple(x.shape)}')
    if x.shape[1] != rnn1.input_size:
        raise ValueError(f'RNNPool: input has {x.shape[1]} channels, in_channels is '
                         f'{rnn1.input_size}')
    batch, _, in_h, in_w = (int(s) for s in x.shape)
    out_h = pool_output_size(in_h, kh, sh, ph, ceil_mode)
    out_w = pool_output_size(in_w, kw, sw, pw, ceil_mode)
    if out_h < 1 or out_w < 1:
        raise ValueError(f'RNNPool: input of size {in_h}x{in_w} is smaller than '
                         f'kernel_size {(kh, kw)} with padding {(ph, pw)}')
    # Rows / columns of the padded map that some patch visits; every one of them is visited
    # because stride <= kernel_size.
    need_h = (out_h - 1) * sh + kh
    need_w = (out_w - 1) * sw + kw
    keep_h, keep_w = min(in_h, need_h - ph), min(in_w, need_w - pw)

    map_kernel = [getattr(cell, 'map_kernel', None) for cell in (rnn1, rnn2)]
    if all(map_kernel) and all(fn(x) is not None for fn in map_kernel):
        return _rnn_pool2d_kernel(x, rnn1, rnn2, (kh, kw), (sh, sw), (ph, pw), (out_h, out_w))

    # Feature-first layout (K, N, H, W) throughout: each gate of a step is a contiguous block
    # of rows, and the per-step inputs of all patch rows / columns are windows (unfold) of the
    # map, copied once into (K, T, sequences).
    # RNN1 input projection, once per pixel: (K1, N, h, w).
    consts1 = rnn1.precompute()
    # Zero-padding the projection == projecting the zero-padded input (W x has no bias).
    if _is_tracing():
        pixels = x[:, :, :keep_h, :keep_w].transpose(0, 1)
        proj = torch.mm(rnn1.W, pixels.reshape(pixels.shape[0], -1))
        proj = proj.view(-1, batch, keep_h, keep_w)
        proj = F.pad(proj, (pw, need_w - pw - keep_w, ph, need_h - ph - keep_h))
    else:
        # Every pixel projected (per image: no transposed copy of x), then one pad that also
        # crops (negative amounts) the rows / columns no patch visits: slicing x instead
        # would cost a zero-filled copy of the input's gradient per sliced dim.
        proj = torch.bmm(rnn1.W.expand(batch, -1, -1), x.flatten(2))
        proj = proj.view(batch, -1, in_h, in_w).transpose(0, 1)
        pads = (pw, need_w - pw - in_w, ph, need_h - ph - in_h)
        proj = F.pad(proj, pads) if any(pads) else proj
        proj = proj.contiguous()
    proj = rnn1.step_inputs(proj, consts1)  # (K1, N, need_h, need_w)

    # Row sequences: step t reads column j * sw + t -> (K1, kw, N * need_h * out_w).
    # Column sequences: step t reads row i * sh + t -> (K1, kh, N * out_h * need_w).
    row_summaries = _window_recurrence(rnn1, proj, 3, kw, sw, consts1)
    col_summaries = _window_recurrence(rnn1, proj, 2, kh, sh, consts1)

    # RNN2 projection: once per summary, then gathered per patch.
    consts2 = rnn2.precompute()
    q_rows = rnn2.step_inputs(torch.mm(rnn2.W, row_summaries), consts2)
    q_cols = rnn2.step_inputs(torch.mm(rnn2.W, col_summaries), consts2)
    k2 = q_rows.shape[0]
    q_rows = q_rows.view(k2, batch, need_h, out_w)  # row summaries
    q_cols = q_cols.view(k2, batch, out_h, need_w)  # column summaries
    hid2 = rnn2.hidden_size
    outs = []
    for summary_map, dim, k, s in ((q_rows, 2, kh, sh), (q_cols, 3, kw, sw)):
        # Forward and backward passes over the summaries of each patch: (H2, 2 * patches).
        last = _window_recurrence(rnn2, summary_map, dim, k, s, consts2, both_ways=True)
        outs.append(last.view(hid2, 2, batch, out_h, out_w))
    out = torch.cat(outs, 1)  # (H2, 4, N, out_h, out_w)
    return out.permute(2, 1, 0, 3, 4).reshape(batch, 4 * hid2, out_h, out_w)


def _rnn_pool2d_kernel(x: Tensor, rnn1: BaseRNNCell, rnn2: BaseRNNCell, kernel: Tuple[int, int],
                       stride: Tuple[int, int], padding: Tuple[int, int],
                       out_size: Tuple[int, int]) -> Tensor:
    """:func:`rnn_pool2d` where both cells run in the C++ CPU kernel (same results).

    Every recurrence reads its windows straight from a map; each map's window sets (RNN1's rows
    and columns, RNN2's forward and backward runs) are one autograd node, so the backward
    fills one gradient per map. Without padding, RNN1's step inputs are written straight into
    the feature-first map (:meth:`FastGRNNCell.map_step_inputs`) and not cropped: the windows
    never reach the rows / columns that no patch visits (at most ``stride - 1`` of them), so
    RNN1 runs over those few extra rows / columns' sequences instead of copying the map.
    """
    (kh, kw), (sh, sw), (ph, pw), (out_h, out_w) = kernel, stride, padding, out_size
    batch, _, in_h, in_w = (int(v) for v in x.shape)
    need_h, need_w = (out_h - 1) * sh + kh, (out_w - 1) * sw + kw
    consts1 = rnn1.precompute()
    if ph == 0 and pw == 0 and need_h <= in_h and need_w <= in_w:
        step_map = rnn1.map_step_inputs(x)  # (K1, N, in_h, in_w)
    else:  # zero padding applies to W x, before the bias
        proj = torch.bmm(rnn1.W.expand(batch, -1, -1), x.flatten(2))
        proj = proj.view(batch, rnn1.W.shape[0], in_h, in_w).transpose(0, 1)
        proj = F.pad(proj, (pw, need_w - pw - in_w, ph, need_h - ph - in_h))
        step_map = rnn1.step_inputs(proj, consts1).contiguous()
    map_h, map_w = step_map.shape[2:]
    row_summaries, col_summaries = rnn1.window_recurrences(
        step_map, [(3, kw, sw, False), (2, kh, sh, False)], consts1)

    consts2 = rnn2.precompute()
    # step_inputs(W s) of FastGRNN, W s + bias_gate, as one product.
    q_rows = torch.addmm(rnn2.bias_gate[:, None], rnn2.W, row_summaries)
    q_cols = torch.addmm(rnn2.bias_gate[:, None], rnn2.W, col_summaries)
    q_rows = q_rows.view(q_rows.shape[0], batch, map_h, out_w)
    q_cols = q_cols.view(q_cols.shape[0], batch, out_h, map_w)
    outs = rnn2.window_recurrences(q_rows, [(2, kh, sh, False), (2, kh, sh, True)], consts2)
    outs += rnn2.window_recurrences(q_cols, [(3, kw, sw, False), (3, kw, sw, True)], consts2)
    hid2 = rnn2.hidden_size
    out = torch.stack(outs).view(4, hid2, batch, out_h, out_w)
    return out.permute(2, 0, 1, 3, 4).reshape(batch, 4 * hid2, out_h, out_w)


@MODELS.register_module()
class RNNPool(nn.Module):
    """RNNPool layer: slides RNNPool over a feature map like a pooling layer.

    Registered in MMEngine's root ``MODELS``, so ``dict(type='RNNPool', ...)`` builds it from
    any child registry (mmdet, mmpretrain, ...).

    Args:
        in_channels (int): Input channels ``C``.
        hidden_channels (int | tuple[int, int]): Hidden sizes ``(h1, h2)`` of RNN1 and RNN2
            (an int sets both). Defaults to (16, 16).
        kernel_size (int | tuple[int, int]): Patch size ``(r, c)``. Defaults to 8.
        stride (int | tuple[int, int]): Patch step, at most the patch size. Defaults to 4.
        padding (int | tuple[int, int]): Zero padding on each side, at most half the patch.
            Defaults to 0.
        cell (str): ``'fastgrnn'``, ``'gru'`` or ``'lstm'``. Defaults to ``'fastgrnn'``.
        nonlinearity (str): ``'standard'`` (sigmoid / tanh) or ``'quant'`` (piecewise-linear
            quantSigmoid / quantTanh). Defaults to ``'standard'``.
        ceil_mode (bool): ``nn.MaxPool2d``'s ceil mode (extra windows see zeros past the
            padding). Defaults to False.
        cell_cfg (dict, optional): Further arguments of both cells, e.g. FastGRNN's
            ``dict(bias_init=1.0, learn_zeta_nu=False)`` (its defaults). Defaults to None.

    Attributes:
        out_channels (int): ``4 * h2``.
        rnn1 (BaseRNNCell): Row / column cell, ``input_size = in_channels``.
        rnn2 (BaseRNNCell): Summary cell, ``input_size = h1``.
        kernel_size, stride, padding (tuple[int, int]): As pairs.
    """

    def __init__(self,
                 in_channels: int,
                 hidden_channels: IntOrPair = (16, 16),
                 kernel_size: IntOrPair = 8,
                 stride: IntOrPair = 4,
                 padding: IntOrPair = 0,
                 cell: str = 'fastgrnn',
                 nonlinearity: str = 'standard',
                 ceil_mode: bool = False,
                 cell_cfg: Optional[dict] = None) -> None:
        super().__init__()
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels <= 0:
            raise ValueError(f'RNNPool: in_channels must be a positive int, got {in_channels!r}')
        h1, h2 = _to_pair(hidden_channels, 'hidden_channels')
        if h1 <= 0 or h2 <= 0:
            raise ValueError(f'RNNPool: hidden_channels must be positive, got {(h1, h2)}')
        self.kernel_size, self.stride, self.padding = _check_geometry(
            kernel_size, stride, padding)
        if not isinstance(cell, str) or cell.lower() not in RNN_CELLS:
            raise ValueError(f'RNNPool: cell must be one of {sorted(RNN_CELLS)}, got {cell!r}')
        self.in_channels = in_channels
        self.hidden_channels = (h1, h2)
        self.out_channels = 4 * h2
        self.cell = cell.lower()
        self.nonlinearity = nonlinearity
        self.ceil_mode = bool(ceil_mode)
        if cell_cfg is not None and not isinstance(cell_cfg, dict):
            raise ValueError(f'RNNPool: cell_cfg must be a dict, got {cell_cfg!r}')
        self.rnn1 = build_rnn_cell(self.cell, in_channels, h1, nonlinearity, cell_cfg)
        self.rnn2 = build_rnn_cell(self.cell, h1, h2, nonlinearity, cell_cfg)

    def output_size(self, in_h: int, in_w: int) -> Tuple[int, int]:
        """Spatial output size for an ``in_h x in_w`` input (``nn.MaxPool2d``'s rule)."""
        return tuple(
            pool_output_size(n, k, s, p, self.ceil_mode)
            for n, k, s, p in zip((in_h, in_w), self.kernel_size, self.stride, self.padding))

    def forward(self, x: Tensor) -> Tensor:
        """Pool ``x`` of shape ``(N, in_channels, H, W)`` to ``(N, 4 * h2, H_out, W_out)``."""
        return rnn_pool2d(x, self.rnn1, self.rnn2, self.kernel_size, self.stride, self.padding,
                          self.ceil_mode)

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, '
                f'kernel_size={self.kernel_size}, stride={self.stride}, '
                f'padding={self.padding}, cell={self.cell!r}, '
                f'nonlinearity={self.nonlinearity!r}, ceil_mode={self.ceil_mode}')
