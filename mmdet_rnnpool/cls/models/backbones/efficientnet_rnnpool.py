"""EfficientNet-B0-RNNPool (the RNNPool paper's Tables 1 and 9) on MMPretrain's EfficientNet."""
from typing import Optional, Sequence

import torch.nn as nn
from mmpretrain.models.backbones import EfficientNet
from mmpretrain.registry import MODELS

from ..utils import EarlyDownsample


@MODELS.register_module()
class EfficientNetRNNPool(EfficientNet):
    """EfficientNet whose early stages are replaced by one down-sampling layer (RNNPool).

    Built as MMPretrain's ``EfficientNet`` and then changed: the stages after the stem up to
    the stride-8 map (``layers[1:4]``, the 16-, 24- and 40-channel stages of B0) give way to
    ``downsample`` (Table 9: RNNPool, patch 6, stride 4, ``h1 = h2 = 16``: 112 x 112 x 32 ->
    28 x 28 x 64), and the first kept stage is rebuilt by ``EfficientNet.make_layer`` for the
    new input width::

        layers = [stem, downsample, stage (80, 112), stage (192, 320), conv 1x1]

    Args:
        arch (str): EfficientNet arch. Defaults to ``'b0'``.
        downsample (dict): The layer (see
            :class:`~mmdet_rnnpool.cls.models.utils.EarlyDownsample`). Defaults to Table 9's.
        num_replaced (int): Stages after the stem that the layer replaces. Defaults to 3.
        out_indices (Sequence[int], optional): Indices into the new ``layers``; None = the last.
        **kwargs: ``EfficientNet``'s other arguments.
    """

    def __init__(self,
                 arch: str = 'b0',
                 downsample: dict = dict(
                     type='RNNPool', hidden_channels=16, kernel_size=6, stride=4),
                 num_replaced: int = 3,
                 out_indices: Optional[Sequence[int]] = None,
                 **kwargs) -> None:
        if kwargs.get('frozen_stages', 0) != 0:
            raise ValueError('EfficientNetRNNPool: frozen_stages is not supported')
        super().__init__(arch=arch, **kwargs)
        if not 1 <= num_replaced < len(self.layers) - 2:
            raise ValueError(f'EfficientNetRNNPool: num_replaced must be in [1, '
                             f'{len(self.layers) - 3}], got {num_replaced}')
        stem_channels = self.layers[0].conv.out_channels
        self.downsample_layer = EarlyDownsample(stem_channels, downsample)
        first_kept = 1 + num_replaced
        # make_layer builds the stages of layer_setting[1:-1] from self.in_channels and appends
        # them to self.layers: give it just the first kept stage.
        layers, setting = self.layers, self.layer_setting
        self.layers = nn.ModuleList()
        self.layer_setting = [setting[0], setting[first_kept], setting[-1]]
        self.in_channels = self.downsample_layer.out_channels
        self.make_layer()
        rebuilt = self.layers[0]
        self.layer_setting = setting
        self.layers = nn.ModuleList([layers[0], self.downsample_layer, rebuilt,
                                     *layers[first_kept + 1:]])
        del self.downsample_layer  # registered once, inside self.layers
        self.out_indices = (len(self.layers) - 1, ) if out_indices is None \
            else tuple(out_indices)
        for index in self.out_indices:
            if index not in range(len(self.layers)):
                raise ValueError(f'EfficientNetRNNPool: out_indices must be in range(0, '
                                 f'{len(self.layers)}), got {index}')
