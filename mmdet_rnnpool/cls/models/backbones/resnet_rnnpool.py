"""ResNet18-RNNPool (the RNNPool paper's Tables 1 and 9) on MMPretrain's ResNet."""
from typing import Optional, Sequence

import torch.nn as nn
from mmpretrain.models.backbones import ResNet
from mmpretrain.registry import MODELS

from ..utils import EarlyDownsample


@MODELS.register_module()
class ResNetRNNPool(ResNet):
    """ResNet whose max-pool and first stages are replaced by one down-sampling layer.

    Built as MMPretrain's ``ResNet`` and then changed: the first conv becomes a 3x3 stride-2
    conv (the paper: "a 3x3 stride-2 conv, then one RNNPoolLayer"), and the max-pool and
    ``layer1``, ``layer2`` (stride 2 -> 8) give way to ``downsample`` (Table 9: RNNPool,
    patch 8, stride 4, ``h1 = h2 = 32``: 112 x 112 x 64 -> 28 x 28 x 128, which is exactly what
    ``layer2`` produced, so ``layer3`` is unchanged)::

        conv1 (3x3/2) + norm1 + relu -> downsample -> layer3 -> layer4

    Args:
        depth (int): ResNet depth. Defaults to 18.
        downsample (dict): The layer (see
            :class:`~mmdet_rnnpool.cls.models.utils.EarlyDownsample`). Defaults to Table 9's.
        num_replaced (int): Stages the layer replaces (with the max-pool). Defaults to 2.
        stem_kernel_size (int, optional): Kernel of the first conv; None keeps ResNet's 7.
            Defaults to 3.
        out_indices (Sequence[int], optional): Indices into the kept stages; None = the last.
        **kwargs: ``ResNet``'s other arguments (``deep_stem`` is not supported).
    """

    def __init__(self,
                 depth: int = 18,
                 downsample: dict = dict(
                     type='RNNPool', hidden_channels=32, kernel_size=8, stride=4),
                 num_replaced: int = 2,
                 stem_kernel_size: Optional[int] = 3,
                 out_indices: Optional[Sequence[int]] = None,
                 **kwargs) -> None:
        if kwargs.get('deep_stem', False) or kwargs.get('frozen_stages', -1) != -1:
            raise ValueError('ResNetRNNPool: deep_stem and frozen_stages are not supported')
        super().__init__(depth=depth, **kwargs)
        if not 1 <= num_replaced < len(self.res_layers):
            raise ValueError(f'ResNetRNNPool: num_replaced must be in [1, '
                             f'{len(self.res_layers) - 1}], got {num_replaced}')
        if stem_kernel_size is not None:
            conv1 = self.conv1
            self.conv1 = nn.Conv2d(conv1.in_channels, conv1.out_channels, stem_kernel_size,
                                   stride=2, padding=stem_kernel_size // 2, bias=False)
        self.downsample = EarlyDownsample(self.conv1.out_channels, downsample)
        replaced_out = getattr(self, self.res_layers[num_replaced - 1])[-1]
        expected = replaced_out.out_channels
        if self.downsample.out_channels != expected:
            raise ValueError(f'ResNetRNNPool: the down-sampling layer gives '
                             f'{self.downsample.out_channels} channels where '
                             f'{self.res_layers[num_replaced]} takes {expected}')
        del self.maxpool
        for name in self.res_layers[:num_replaced]:
            delattr(self, name)
        self.res_layers = self.res_layers[num_replaced:]
        self.out_indices = (len(self.res_layers) - 1, ) if out_indices is None \
            else tuple(out_indices)
        for index in self.out_indices:
            if index not in range(len(self.res_layers)):
                raise ValueError(f'ResNetRNNPool: out_indices must be in range(0, '
                                 f'{len(self.res_layers)}) (into {self.res_layers}), got '
                                 f'{index}')

    def forward(self, x):
        x = self.downsample(self.relu(self.norm1(self.conv1(x))))
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
