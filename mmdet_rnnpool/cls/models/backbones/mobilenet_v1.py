"""MobileNetV1 (Howard et al., 2017) for MMPretrain, which has no MobileNetV1 backbone."""
from typing import Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS
from torch import Tensor


class DepthwiseSeparableConv(nn.Sequential):
    """3x3 depthwise conv + BN + act, then 1x1 pointwise conv + BN + act."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, **conv_kw) -> None:
        super().__init__(
            ConvModule(in_channels, in_channels, 3, stride=stride, padding=1,
                       groups=in_channels, **conv_kw),
            ConvModule(in_channels, out_channels, 1, **conv_kw))
        self.out_channels = out_channels


@MODELS.register_module()
class MobileNetV1(BaseBackbone):
    """MobileNetV1 backbone: a 3x3/2 conv then 13 depthwise-separable blocks.

    The blocks are grouped by output resolution into ``stages`` (stride 2, 4, 8, 16, 32), each
    an ``nn.Sequential`` of :class:`DepthwiseSeparableConv`.

    Args:
        widen_factor (float): Width multiplier. Defaults to 1.0.
        out_indices (Sequence[int]): Stages to output. Defaults to (4, ).
        norm_cfg (dict): Defaults to BN.
        act_cfg (dict): Defaults to ReLU.
        init_cfg (dict | list, optional): MMEngine init config.
    """

    #: (out_channels, stride) of every block, per stage.
    arch_settings = (((64, 1), ), ((128, 2), (128, 1)), ((256, 2), (256, 1)),
                     ((512, 2), ) + ((512, 1), ) * 5, ((1024, 2), (1024, 1)))

    def __init__(self,
                 widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (4, ),
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg=[
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(type='Constant', val=1, layer=['_BatchNorm'])
                 ]) -> None:
        super().__init__(init_cfg)
        self.widen_factor = widen_factor
        self.conv_kw = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        stem_channels = self.width(32)
        self.stem = ConvModule(3, stem_channels, 3, stride=2, padding=1, **self.conv_kw)
        self.stages = nn.ModuleList()
        in_channels = stem_channels
        for blocks in self.arch_settings:
            self.stages.append(self.make_stage(blocks, in_channels))
            in_channels = self.stages[-1][-1].out_channels
        self.out_indices = tuple(out_indices)
        for index in self.out_indices:
            if index not in range(len(self.stages)):
                raise ValueError(f'MobileNetV1: out_indices must be in range(0, '
                                 f'{len(self.stages)}), got {index}')

    def width(self, channels: int) -> int:
        """Channels scaled by ``widen_factor``."""
        return max(8, int(channels * self.widen_factor))

    def make_stage(self, blocks: Sequence[Tuple[int, int]], in_channels: int) -> nn.Sequential:
        """A stage of :class:`DepthwiseSeparableConv` blocks from ``in_channels``."""
        layers = []
        for channels, stride in blocks:
            layers.append(
                DepthwiseSeparableConv(in_channels, self.width(channels), stride,
                                       **self.conv_kw))
            in_channels = layers[-1].out_channels
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
