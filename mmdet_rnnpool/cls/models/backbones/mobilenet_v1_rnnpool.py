"""MobileNetV1-RNNPool (the RNNPool paper's Table 3, ImageNet-1K)."""
import torch.nn as nn
from mmpretrain.registry import MODELS

from ..utils import EarlyDownsample
from .mobilenet_v1 import MobileNetV1


@MODELS.register_module()
class MobileNetV1RNNPool(MobileNetV1):
    """MobileNetV1 whose blocks from stride 2 to stride 8 are replaced by one layer.

    The first three stages' blocks that lead to the stride-8 map (64/1, 128/2, 128/1, 256/2)
    give way to ``downsample`` (RNNPool, patch 6, stride 4, ``h1 = h2 = 16``: 112 x 112 x 32
    -> 28 x 28 x 64); the rest of the stride-8 stage (256/1) is rebuilt to take its output::

        stem -> stages[0] = [downsample, 256/1] -> 512 stage -> 1024 stage

    Args:
        downsample (dict): The layer (see
            :class:`~mmdet_rnnpool.cls.models.utils.EarlyDownsample`).
        **kwargs: :class:`MobileNetV1`'s arguments (``out_indices`` into the new stages).
    """

    def __init__(self,
                 downsample: dict = dict(
                     type='RNNPool', hidden_channels=16, kernel_size=6, stride=4),
                 out_indices=(2, ),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        layer = EarlyDownsample(self.stem.conv.out_channels, downsample)
        # arch_settings[2] is the stride-8 stage: its strided first block is replaced.
        rest = self.make_stage(self.arch_settings[2][1:], layer.out_channels)
        self.stages = nn.ModuleList([nn.Sequential(layer, *rest), *self.stages[3:]])
        self.out_indices = tuple(out_indices)
        for index in self.out_indices:
            if index not in range(len(self.stages)):
                raise ValueError(f'MobileNetV1RNNPool: out_indices must be in range(0, '
                                 f'{len(self.stages)}), got {index}')
