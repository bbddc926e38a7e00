"""MobileNetV2-RNNPool (the RNNPool paper's Table 10) on MMPretrain's MobileNetV2."""
from typing import List, Optional, Sequence, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmpretrain.models.backbones import MobileNetV2
from mmpretrain.models.utils import make_divisible
from mmpretrain.registry import MODELS

from ..utils import EarlyDownsample, TransitionDownsample


@MODELS.register_module()
class MobileNetV2RNNPool(MobileNetV2):
    """MobileNetV2 whose early blocks are replaced by one down-sampling layer (RNNPool).

    Built as MMPretrain's ``MobileNetV2`` and then changed: the layers of its stride-2 and
    stride-4 stages and of the stride-8 stage (``layer1`` - ``layer3`` of ``arch_settings``)
    give way to ``downsample`` (Table 10: RNNPool, patch 6, stride 4, ``h1 = h2 = 16``, 64
    channels out, from 112 x 112 x 32 to 28 x 28 x 64), and the first kept stage is rebuilt
    for the new input width::

        conv1 (3x3 s2) -> downsample -> layer4 ... layer7 -> conv2 (1x1)

    ``self.layers`` (and so ``out_indices``) is ``['downsample', 'layer4', ..., 'conv2']``.
    With ``downsample=None`` nothing is replaced, which is the base network with the stem /
    last-conv widths below (the Visual Wake Words baseline).

    Args:
        widen_factor (float): Width multiplier of the bottlenecks. Defaults to 1.0.
        stem_channels (int, optional): Channels of the first conv; None keeps MobileNetV2's
            ``make_divisible(32 * widen_factor, 8)``. The VWW model uses 8.
        last_channels (int, optional): Channels of the last 1x1 conv; None keeps 1280. The
            VWW model uses 320.
        downsample (dict | list[dict], optional): The layer (see
            :class:`~mmdet_rnnpool.cls.models.utils.EarlyDownsample`), or several in a row
            (Table 16's two RNNPools; the later ones are intermediate pools,
            :class:`~mmdet_rnnpool.cls.models.utils.TransitionDownsample`). Defaults to
            Table 10's RNNPool.
        num_replaced (int): Stages of ``arch_settings`` the layer replaces; 3 for stride 4
            (stride 2 -> 8), 4 for Table 16's stride-8 variant (the 64-channel stage too).
            Defaults to 3.
        out_indices (Sequence[int], optional): Indices into ``self.layers``; None = the last.
        **kwargs: ``MobileNetV2``'s other arguments.
    """

    def __init__(self,
                 widen_factor: float = 1.,
                 stem_channels: Optional[int] = None,
                 last_channels: Optional[int] = None,
                 downsample: Optional[Union[dict, List[dict]]] = dict(
                     type='RNNPool', hidden_channels=16, kernel_size=6, stride=4),
                 num_replaced: int = 3,
                 out_indices: Optional[Sequence[int]] = None,
                 frozen_stages: int = -1,
                 **kwargs) -> None:
        if frozen_stages != -1:
            raise ValueError('MobileNetV2RNNPool: frozen_stages is not supported (the '
                             'replaced stages no longer exist)')
        super().__init__(widen_factor=widen_factor, out_indices=(7, ), **kwargs)
        stem_in = self.conv1.conv.out_channels
        if stem_channels is not None and stem_channels != stem_in:
            self.conv1 = self._conv(3, stem_channels, 3, stride=2, padding=1)
            stem_in = stem_channels
            if downsample is None:  # the first stage takes the new stem width
                self.in_channels = stem_in
                setattr(self, self.layers[0], self._stage(self.arch_settings[0]))
        if downsample is not None:
            if not 1 <= num_replaced < len(self.arch_settings):
                raise ValueError(f'MobileNetV2RNNPool: num_replaced must be in [1, '
                                 f'{len(self.arch_settings) - 1}], got {num_replaced}')
            for name in self.layers[:num_replaced]:
                delattr(self, name)
            chain, channels = [], stem_in
            for i, cfg in enumerate([downsample] if isinstance(downsample, dict) else
                                    list(downsample)):
                chain.append((EarlyDownsample if i == 0 else TransitionDownsample)(channels, cfg))
                channels = chain[-1].out_channels
            self.downsample = chain[0] if len(chain) == 1 else nn.Sequential(*chain)
            self.in_channels = channels
            first_kept = self.layers[num_replaced]
            setattr(self, first_kept, self._stage(self.arch_settings[num_replaced]))
            self.layers = ['downsample'] + self.layers[num_replaced:]
        if last_channels is not None and last_channels != self.out_channel:
            self.out_channel = last_channels
            self.conv2 = self._conv(self.conv2.conv.in_channels, last_channels, 1)
        self.out_indices = (len(self.layers) - 1, ) if out_indices is None \
            else tuple(out_indices)
        for index in self.out_indices:
            if index not in range(len(self.layers)):
                raise ValueError(f'MobileNetV2RNNPool: out_indices must be in range(0, '
                                 f'{len(self.layers)}) (into {self.layers}), got {index}')

    def _conv(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
              padding: int = 0) -> ConvModule:
        return ConvModule(in_channels, out_channels, kernel_size, stride=stride,
                          padding=padding, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                          act_cfg=self.act_cfg)

    def _stage(self, row):
        """Rebuild one ``arch_settings`` row from ``self.in_channels`` (MobileNetV2.make_layer)."""
        expand_ratio, channel, num_blocks, stride = row
        return self.make_layer(out_channels=make_divisible(channel * self.widen_factor, 8),
                               num_blocks=num_blocks, stride=stride, expand_ratio=expand_ratio)
