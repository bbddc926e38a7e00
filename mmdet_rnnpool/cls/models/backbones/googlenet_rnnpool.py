"""GoogLeNet-RNNPool (the RNNPool paper's Tables 1 and 9)."""
from typing import Optional

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmpretrain.registry import MODELS

from ..utils import EarlyDownsample
from .googlenet import GoogLeNet


@MODELS.register_module()
class GoogLeNetRNNPool(GoogLeNet):
    """GoogLeNet whose stem after the first conv is replaced by one down-sampling layer.

    The first conv becomes a 3x3 stride-2 conv (the paper: "a 3x3 stride-2 conv, then one
    RNNPoolLayer"); the 3x3/2 max-pool, the 1x1 and 3x3 convs and the second max-pool
    (stride 2 -> 8) give way
    to ``downsample`` (Table 9: RNNPool, patch 8, stride 4, ``h1 = h2 = 32``: 112 x 112 x 64 ->
    28 x 28 x 128); inception 3a is rebuilt to take its output::

        stem = [3x3/2 conv, downsample] -> 3a, 3b -> 4a - 4e -> 5a, 5b

    Args:
        downsample (dict): The layer (see
            :class:`~mmdet_rnnpool.cls.models.utils.EarlyDownsample`). Defaults to Table 9's.
        stem_kernel_size (int, optional): Kernel of the first conv; None keeps 7.
            Defaults to 3.
        **kwargs: :class:`GoogLeNet`'s arguments.
    """

    def __init__(self,
                 downsample: dict = dict(
                     type='RNNPool', hidden_channels=32, kernel_size=8, stride=4),
                 stem_kernel_size: Optional[int] = 3,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        conv1 = self.stem[0]
        if stem_kernel_size is not None:
            conv1 = ConvModule(3, conv1.conv.out_channels, stem_kernel_size, stride=2,
                               padding=stem_kernel_size // 2, **self.conv_kw)
        layer = EarlyDownsample(conv1.conv.out_channels, downsample)
        self.stem = nn.Sequential(conv1, layer)
        self.stages[0] = self.make_stage(0, layer.out_channels)
