"""ResNet whose stem max-pool is built from a config: RNNPool as a drop-in pooling layer.

The stock ResNet stem is ``conv 7x7 s2 -> norm -> ReLU -> max-pool 3x3 s2 p1``. With
``stem_pool=dict(type='RNNPool', in_channels=64, hidden_channels=(16, 16), kernel_size=3,
stride=2, padding=1)`` the max-pool is replaced by an RNNPool layer with the same window rule
and the same number of output channels (``4 * 16 = 64``), so every later stage and the neck are
unchanged.
"""
from typing import Optional

from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS
from mmengine.config import ConfigDict

import mmdet_rnnpool.ops  # noqa: F401  (registers RNNPool in MMEngine's root MODELS)

@MODELS.register_module()
class ResNetRNNPoolStem(ResNet):
    """mmdet's ResNet with a configurable stem pooling layer.

    Args:
        stem_pool (dict, optional): Config of the layer that replaces the stem max-pool, built
            with mmdet's ``MODELS`` (which falls back to MMEngine's root registry, where
            ``'RNNPool'`` is registered). Its input and output channels must equal
            ``stem_channels``. Defaults to None, meaning ``nn.MaxPool2d(3, 2, 1)`` as in ResNet.
            The layer always trains, even when ``frozen_stages`` freezes the (pretrained) stem
            convolution: it has no pretrained weights of its own.
        **kwargs: Arguments of :class:`mmdet.models.backbones.ResNet`.
    """

    def __init__(self, *args, stem_pool: Optional[dict] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if stem_pool is None:
            return  # ResNet's own nn.MaxPool2d(3, 2, 1)
        if not isinstance(stem_pool, dict) or 'type' not in stem_pool:
            raise ValueError(f'ResNetRNNPoolStem: stem_pool must be a config dict with a "type" '
                             f'key, got {stem_pool!r}')
        self.maxpool = MODELS.build(ConfigDict(stem_pool))
        for attr in ('in_channels', 'out_channels'):
            channels = getattr(self.maxpool, attr, self.stem_channels)
            if channels != self.stem_channels:
                raise ValueError(f'ResNetRNNPoolStem: stem_pool.{attr} is {channels}, but the '
                                 f'stem has {self.stem_channels} channels (stem_channels)')
