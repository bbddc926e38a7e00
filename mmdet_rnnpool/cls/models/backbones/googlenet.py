"""GoogLeNet (Inception v1, Szegedy et al., CVPR 2015) with batch norm, for MMPretrain.

MMPretrain 1.2 has Inception v3 but no GoogLeNet, which the RNNPool paper uses (Table 1).
"""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS
from torch import Tensor


class InceptionBlock(nn.Module):
    """Inception module: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max-pool -> 1x1, concatenated.

    Args:
        in_channels (int): Input channels.
        widths (Sequence[int]): ``(1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj)``.
        double_kernel (int): Kernel of the "5x5" branch (torchvision's GoogLeNet uses 3).
        conv_kw (dict): ConvModule arguments (norm / act configs).
    """

    def __init__(self, in_channels: int, widths: Sequence[int], double_kernel: int = 5,
                 **conv_kw) -> None:
        super().__init__()
        c1, r3, c3, r5, c5, cp = widths
        self.branch1 = ConvModule(in_channels, c1, 1, **conv_kw)
        self.branch3 = nn.Sequential(
            ConvModule(in_channels, r3, 1, **conv_kw),
            ConvModule(r3, c3, 3, padding=1, **conv_kw))
        self.branch5 = nn.Sequential(
            ConvModule(in_channels, r5, 1, **conv_kw),
            ConvModule(r5, c5, double_kernel, padding=double_kernel // 2, **conv_kw))
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            ConvModule(in_channels, cp, 1, **conv_kw))
        self.out_channels = c1 + c3 + c5 + cp

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], 1)


@MODELS.register_module()
class GoogLeNet(BaseBackbone):
    """GoogLeNet backbone (the network of Szegedy et al.'s Table 1, every conv with BN).

    ``stem`` (7x7/2 conv, 3x3/2 max-pool, 1x1 conv, 3x3 conv, 3x3/2 max-pool) then three
    stages: ``stages[0]`` = 3a, 3b (stride 8), ``stages[1]`` = max-pool, 4a - 4e (stride 16),
    ``stages[2]`` = max-pool, 5a, 5b (stride 32, 1024 channels). No auxiliary classifiers.

    Args:
        double_kernel (int): Kernel of the inception modules' "5x5" branch. Defaults to 5.
        out_indices (Sequence[int]): Stages to output. Defaults to (2, ).
        norm_cfg (dict): Defaults to BN.
        act_cfg (dict): Defaults to ReLU.
        init_cfg (dict | list, optional): MMEngine init config.
    """

    #: (name, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) per stage.
    arch_settings = (
        (('3a', 64, 96, 128, 16, 32, 32), ('3b', 128, 128, 192, 32, 96, 64)),
        (('4a', 192, 96, 208, 16, 48, 64), ('4b', 160, 112, 224, 24, 64, 64),
         ('4c', 128, 128, 256, 24, 64, 64), ('4d', 112, 144, 288, 32, 64, 64),
         ('4e', 256, 160, 320, 32, 128, 128)),
        (('5a', 256, 160, 320, 32, 128, 128), ('5b', 384, 192, 384, 48, 128, 128)),
    )

    def __init__(self,
                 double_kernel: int = 5,
                 out_indices: Sequence[int] = (2, ),
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg=[
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(type='Constant', val=1, layer=['_BatchNorm'])
                 ]) -> None:
        super().__init__(init_cfg)
        self.conv_kw = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.double_kernel = double_kernel
        self.stem = nn.Sequential(
            ConvModule(3, 64, 7, stride=2, padding=3, **self.conv_kw),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            ConvModule(64, 64, 1, **self.conv_kw),
            ConvModule(64, 192, 3, padding=1, **self.conv_kw),
            nn.MaxPool2d(3, stride=2, ceil_mode=True))
        self.stages = nn.ModuleList()
        in_channels = 192
        for i in range(len(self.arch_settings)):
            self.stages.append(self.make_stage(i, in_channels))
            in_channels = self.stages[-1][-1].out_channels
        self.out_indices = tuple(out_indices)
        for index in self.out_indices:
            if index not in range(len(self.stages)):
                raise ValueError(f'GoogLeNet: out_indices must be in range(0, 3), got {index}')

    def make_stage(self, index: int, in_channels: int) -> nn.Sequential:
        """Stage ``index`` (with its leading max-pool for stages 1, 2) from ``in_channels``."""
        layers = [] if index == 0 else [nn.MaxPool2d(3, stride=2, ceil_mode=True)]
        for _, *widths in self.arch_settings[index]:
            block = InceptionBlock(in_channels, widths, self.double_kernel, **self.conv_kw)
            layers.append(block)
            in_channels = block.out_channels
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
