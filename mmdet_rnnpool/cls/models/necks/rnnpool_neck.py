"""Last-layer RNNPool: RNNPool over the whole last map in place of global average pooling."""
from typing import Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from mmdet_rnnpool.ops import RNNPool


@MODELS.register_module()
class RNNPoolNeck(BaseModule):
    """Global pooling by RNNPool (the RNNPool paper's "last layer RNNPool", Table 2).

    One patch is the whole ``H x W`` map (7 x 7 at 224 px input), so the output is one vector
    per image. With ``h1 = h2 = in_channels / 4`` (the paper's choice) it keeps
    ``in_channels`` values, so the classifier head is unchanged. The patch is the map the
    neck is given, whatever its size: the layer is built for ``in_channels`` only and sized at
    run time, so a model trained at one resolution runs at another.

    Args:
        in_channels (int | Sequence[int]): Channels of the backbone output(s); one RNNPool per
            output when a sequence.
        hidden_channels (int | tuple[int, int], optional): ``(h1, h2)``; None = the paper's
            ``in_channels // 4`` for both.
        cell (str): RNN cell. Defaults to ``'fastgrnn'``.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 hidden_channels: Optional[Union[int, Tuple[int, int]]] = None,
                 cell: str = 'fastgrnn',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        channels = [in_channels] if isinstance(in_channels, int) else list(in_channels)
        for c in channels:
            if hidden_channels is None and (not isinstance(c, int) or c < 4 or c % 4):
                raise ValueError(f'RNNPoolNeck: in_channels {c!r} must be a multiple of 4 '
                                 'for h = in_channels / 4 (or give hidden_channels)')
        self.pools = nn.ModuleList([
            RNNPool(c, c // 4 if hidden_channels is None else hidden_channels, kernel_size=1,
                    stride=1, cell=cell) for c in channels
        ])

    def forward(self, inputs: Union[Tensor, Tuple[Tensor, ...]]):
        single = isinstance(inputs, Tensor)
        feats = (inputs, ) if single else tuple(inputs)
        if len(feats) != len(self.pools):
            raise ValueError(f'RNNPoolNeck: built for {len(self.pools)} inputs, got '
                             f'{len(feats)}')
        outs = tuple(self._pool_whole(pool, x) for pool, x in zip(self.pools, feats))
        return outs[0] if single else outs

    @staticmethod
    def _pool_whole(pool: RNNPool, x: Tensor) -> Tensor:
        # One patch = the whole map; the geometry is set from the map before the call.
        pool.kernel_size = pool.stride = (int(x.shape[2]), int(x.shape[3]))
        return pool(x).flatten(1)
