"""The layer that replaces a classifier's early blocks: RNNPool, or a Table 2 comparator.

The RNNPool paper (Section 5.1, Table 2) puts one down-sampling layer right after the first
stride-2 conv, jumping from the stride-2 map to the stride-8 map, in place of every block in
between. The layer is RNNPool in the paper's models; Table 2 compares it with average pooling,
max pooling, a strided convolution and ReNet in the same place.
"""
from typing import Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.registry import MODELS
from torch import Tensor

#: ``type`` values that are not registry layers (RNNPool / ReNet are built from the registry).
_POOLS = {'AvgPool2d': nn.AvgPool2d, 'MaxPool2d': nn.MaxPool2d}


class ReplicatePadToStride(nn.ReplicationPad2d):
    """Pad a map at the bottom / right by replicating its last row / column until it is
    ``ceil(H_in / stride) x ceil(W_in / stride)`` of the layer's input.

    RNNPool with patch 6, stride 4 yields 27 x 27 patches on a 112 x 112 map; the authors'
    release pads the result to 28 x 28 this way (paper notes, VWW model), so that every model
    of Table 9 / 10 continues at exactly stride 8. A subclass of ``nn.ReplicationPad2d`` so that
    the complexity counter treats it as the on-the-fly pad it is.
    """

    def __init__(self, stride: Tuple[int, int]) -> None:
        super().__init__((0, 0, 0, 0))
        self.stride = tuple(stride)
        self.target: Tuple[int, int] = (0, 0)

    def forward(self, x: Tensor) -> Tensor:
        pad_h, pad_w = self.target[0] - x.shape[2], self.target[1] - x.shape[3]
        if pad_h <= 0 and pad_w <= 0:
            return x
        return F.pad(x, (0, max(pad_w, 0), 0, max(pad_h, 0)), mode='replicate')


class EarlyDownsample(nn.Module):
    """One down-sampling layer in place of the early blocks, padded to a whole stride.

    Args:
        in_channels (int): Channels of the stride-2 map (the first conv's output).
        layer (dict): The layer. ``type`` is one of

            - ``'RNNPool'`` / ``'ReNet'`` (or any registry layer taking ``in_channels`` and
              exposing ``out_channels`` and ``stride``): built from MMEngine's ``MODELS``;
            - ``'AvgPool2d'`` / ``'MaxPool2d'``: ``kernel_size`` (default 4) and ``stride``
              (default ``kernel_size``); keeps ``in_channels``;
            - ``'StridedConv'``: a conv + BN + ReLU with ``out_channels``, ``kernel_size``,
              ``stride`` and ``padding`` (default ``(kernel_size - stride) // 2``).

    Attributes:
        out_channels (int): Output channels.
        stride (tuple[int, int]): Down-sampling factor.
    """

    def __init__(self, in_channels: int, layer: dict) -> None:
        super().__init__()
        if not isinstance(layer, dict) or 'type' not in layer:
            raise ValueError(f'EarlyDownsample: layer must be a dict with a type, got {layer!r}')
        cfg = dict(layer)
        kind = cfg.pop('type')
        if kind in _POOLS:
            kernel = cfg.pop('kernel_size', 4)
            stride = cfg.pop('stride', kernel)
            self.layer = _POOLS[kind](kernel_size=kernel, stride=stride, **cfg)
            self.out_channels = in_channels
        elif kind == 'StridedConv':
            kernel, stride = cfg.pop('kernel_size', 6), cfg.pop('stride', 4)
            if 'out_channels' not in cfg:
                raise ValueError('EarlyDownsample: StridedConv needs out_channels')
            self.layer = ConvModule(
                in_channels, cfg.pop('out_channels'), kernel, stride=stride,
                padding=cfg.pop('padding', (kernel - stride) // 2),
                norm_cfg=cfg.pop('norm_cfg', dict(type='BN')),
                act_cfg=cfg.pop('act_cfg', dict(type='ReLU')), **cfg)
            self.out_channels = self.layer.conv.out_channels
        else:
            self.layer = MODELS.build(dict(type=kind, in_channels=in_channels, **cfg))
            self.out_channels = self.layer.out_channels
            stride = self.layer.stride
        self.stride = tuple(stride) if isinstance(stride, (tuple, list)) else (stride, stride)
        self.pad = ReplicatePadToStride(self.stride)

    def forward(self, x: Tensor) -> Tensor:
        self.pad.target = (-(-x.shape[2] // self.stride[0]), -(-x.shape[3] // self.stride[1]))
        return self.pad(self.layer(x))


class TransitionDownsample(EarlyDownsample):
    """An :class:`EarlyDownsample` in place of an intermediate pool (DenseNet's transitions).

    The same layer; a class of its own because its input is a whole intermediate map that is
    not computed patch by patch (the complexity counter streams only the early layer's input).
    """
