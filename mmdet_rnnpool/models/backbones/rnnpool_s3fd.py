"""RNNPool-S3FD backbone: every face detector of the RNNPool paper built from an architecture spec.

Saha et al., "RNNPool: Efficient Non-linear Pooling for RAM Constrained Inference", NeurIPS 2020.
The variants (Face-A, B, C, Quant and the QVGA monochrome M4) differ only in their spec, which
lives in ``configs/rnnpool_face/``.
"""
import copy
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.layers import InvertedResidual
from mmdet.models.necks.ssd_neck import L2Norm
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

STAGE_TYPES = ('conv', 'dwsep', 'bottleneck')
_STAGE_KEYS = {
    'conv': {'type', 'c', 'n', 's', 'k'},
    'dwsep': {'type', 'c', 'n', 's'},
    'bottleneck': {'type', 't', 'c', 'n', 's', 'first_t'},
}
_OPTIONAL_KEYS = {'conv': {'k'}, 'dwsep': set(), 'bottleneck': {'first_t'}}


def _check_positive_int(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{where} must be a positive integer, got {value!r}')
    return value


@MODELS.register_module()
class RNNPoolS3FD(BaseModule):
    """Backbone of the RNNPool face detectors (RNNPool + S3FD), built from an architecture spec.

    The network is ``stem convs -> RNNPool -> replicate pad -> stages``; the outputs of chosen stem
    layers and stages are the detection sources, each optionally followed by extra convs and an
    L2 normalisation with a learned per-channel scale. The module tree is deliberately flat and
    made of a few layer kinds only, so an integer exporter can walk it::

        RNNPoolS3FD
        +-- stem: Sequential of ConvModule (conv kxk + BN + act)      [may be empty]
        +-- rnnpool: RNNPool                                          [patch k, stride s]
        +-- rnnpool_pad: ReplicationPad2d((0, 1, 0, 1))               [only if replicate_pad]
        +-- stages: ModuleList, stage i = Sequential of
        |       'conv'       -> ConvModule (conv kxk + BN + act) per repeat
        |       'dwsep'      -> ConvModule (depthwise 3x3 + BN + act),
        |                       ConvModule (pointwise 1x1 + BN + act) per repeat
        |       'bottleneck' -> InvertedResidual (MBConv: [1x1 expand +] 3x3 depthwise + 1x1
        |                       linear projection, residual when stride 1 and channels match)
        +-- source_layers: ModuleList, one Sequential per detection source of
                ConvModule (extra convs, optional), L2Norm (first ``len(l2_norm_scales)``)

    Every ConvModule is Conv2d(bias=False) + BatchNorm2d + ``act_cfg`` (ReLU or ReLU6); the
    InvertedResidual blocks are mmdet's, with the same norm / activation (their projection has
    no activation). Detection sources come in this order: the stem outputs listed in
    ``stem_out_indices``, then the stage outputs listed in ``out_indices``.

    Stage specs are dicts in the paper's ``t / c / n / s`` notation:

    - ``dict(type='conv', c=24, n=4, s=1, k=3)``: ``n`` convs ``k x k`` with ``c`` outputs, the
      first with stride ``s`` (``k`` defaults to 3).
    - ``dict(type='dwsep', c=16, n=4, s=1)``: ``n`` depthwise 3x3 + pointwise 1x1 pairs.
    - ``dict(type='bottleneck', t=6, c=24, n=2, s=1)``: ``n`` MBConv blocks with expansion ``t``;
      ``first_t`` (optional) sets the first block's expansion apart (the authors' release
      builds Face-C's first block after RNNPool with expansion 1, the paper's table says 6).

    The authors' release padded the RNNPool output by one replicated row / column at the bottom /
    right, so a 640 x 480 input gives a 160 x 120 map at stride 4 (``(640 - 8) / 4 + 1 = 159``
    patches, + 1).

    Args:
        in_channels (int): Channels of the input image (3 for RGB, 1 for grey). Defaults to 3.
        stem (Sequence[dict]): Convs before RNNPool, each ``dict(out_channels, kernel_size=3,
            stride=1)``. Defaults to ().
        rnnpool (dict): Config of the RNNPool layer, built by the ``MODELS`` registry;
            ``in_channels`` is filled in from the stem. Defaults to
            ``dict(type='RNNPool', hidden_channels=(16, 16), kernel_size=8, stride=4)``.
        replicate_pad (bool): Pad the RNNPool output by one replicated row / column at the
            bottom / right. Defaults to True.
        stages (Sequence[dict]): Stage specs after RNNPool (see above). Defaults to ().
        stem_out_indices (Sequence[int]): Stem layers whose outputs are detection sources.
            Defaults to ().
        out_indices (Sequence[int]): Stages whose outputs are detection sources.
            Defaults to ().
        source_convs (Sequence[dict | list[dict] | None], optional): Extra convs per detection
            source (same order as the sources; ``None`` for none), each
            ``dict(out_channels, kernel_size=3, stride=1)``, e.g. Face-Quant's strided 3x3 conv
            that takes its stride-2 stem source to stride 4. Defaults to None.
        l2_norm_scales (Sequence[float]): Initial scales of the L2Norm layers on the first
            ``len(l2_norm_scales)`` sources. Defaults to (10., 8., 5.).
        norm_cfg (dict): Norm layer config of every conv. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation config of every conv (not of MBConv projections).
            Defaults to ``dict(type='ReLU6')`` (the authors' release).
        init_cfg (dict or list[dict], optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 3,
                 stem: Sequence[dict] = (),
                 rnnpool: ConfigType = dict(
                     type='RNNPool', hidden_channels=(16, 16), kernel_size=8, stride=4),
                 replicate_pad: bool = True,
                 stages: Sequence[dict] = (),
                 stem_out_indices: Sequence[int] = (),
                 out_indices: Sequence[int] = (),
                 source_convs: Optional[Sequence[Union[dict, List[dict], None]]] = None,
                 l2_norm_scales: Sequence[float] = (10., 8., 5.),
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU6'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = _check_positive_int(in_channels, 'backbone.in_channels')
        self.norm_cfg = copy.deepcopy(norm_cfg)
        self.act_cfg = copy.deepcopy(act_cfg)
        self.stem_out_indices = self._check_indices(stem_out_indices, len(stem),
                                                    'backbone.stem_out_indices')
        self.out_indices = self._check_indices(out_indices, len(stages), 'backbone.out_indices')
        num_sources = len(self.stem_out_indices) + len(self.out_indices)
        if num_sources == 0:
            raise ValueError('backbone: no detection source; set out_indices and/or '
                             'stem_out_indices')

        # (channels, stride) after every layer, to describe the sources.
        source_specs: List[Tuple[int, int]] = []
        channels, stride = self.in_channels, 1

        self.stem = nn.Sequential()
        for i, layer_cfg in enumerate(stem):
            conv, channels, stride = self._make_stem_conv(layer_cfg, channels, stride,
                                                          f'backbone.stem[{i}]')
            self.stem.append(conv)
            if i in self.stem_out_indices:
                source_specs.append((channels, stride))

        self.rnnpool = self._make_rnnpool(rnnpool, channels)
        channels = self._rnnpool_out_channels(self.rnnpool)
        pool_stride = self.rnnpool.stride
        if not isinstance(pool_stride, int):
            if len(set(pool_stride)) != 1:
                raise ValueError(f'backbone.rnnpool.stride must be the same along H and W '
                                 f'(the detection sources have one stride), got {pool_stride}')
            pool_stride = pool_stride[0]
        stride *= pool_stride
        self.replicate_pad = replicate_pad
        if replicate_pad:
            # (left, right, top, bottom): one replicated column on the right, one row below.
            self.rnnpool_pad = nn.ReplicationPad2d((0, 1, 0, 1))

        self.stages = nn.ModuleList()
        stage_specs = []
        for i, spec in enumerate(stages):
            layers, channels, stride = self._make_stage(spec, channels, stride,
                                                        f'backbone.stages[{i}]')
            self.stages.append(layers)
            stage_specs.append((channels, stride))
        # Sources in order: the stem ones first, then the stage ones.
        source_specs += [stage_specs[i] for i in self.out_indices]

        if source_convs is None:
            source_convs = [None] * num_sources
        if len(source_convs) != num_sources:
            raise ValueError(f'backbone.source_convs has {len(source_convs)} entries but there '
                             f'are {num_sources} detection sources')
        if len(l2_norm_scales) > num_sources:
            raise ValueError(f'backbone.l2_norm_scales has {len(l2_norm_scales)} entries but '
                             f'there are only {num_sources} detection sources')
        self.source_layers = nn.ModuleList()
        out_channels, out_strides = [], []
        for i, ((channels, stride), convs) in enumerate(zip(source_specs, source_convs)):
            layers = nn.Sequential()
            if isinstance(convs, dict):
                convs = [convs]
            for j, conv_cfg in enumerate(convs or []):
                conv, channels, stride = self._make_stem_conv(
                    conv_cfg, channels, stride, f'backbone.source_convs[{i}][{j}]')
                layers.append(conv)
            if i < len(l2_norm_scales):
                l2_norm = L2Norm(channels, float(l2_norm_scales[i]))
                nn.init.constant_(l2_norm.weight, l2_norm.scale)
                layers.append(l2_norm)
            self.source_layers.append(layers)
            out_channels.append(channels)
            out_strides.append(stride)
        self.out_channels: Tuple[int, ...] = tuple(out_channels)
        self.out_strides: Tuple[int, ...] = tuple(out_strides)

    @staticmethod
    def _check_indices(indices: Sequence[int], length: int, where: str) -> Tuple[int, ...]:
        indices = tuple(indices)
        for index in indices:
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < length:
                raise ValueError(f'{where}: index {index!r} is not in [0, {length})')
        if list(indices) != sorted(set(indices)):
            raise ValueError(f'{where} must be strictly increasing, got {indices}')
        return indices

    def _conv(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
              groups: int = 1) -> ConvModule:
        return ConvModule(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            groups=groups,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def _make_stem_conv(self, cfg: dict, channels: int, stride: int,
                        where: str) -> Tuple[ConvModule, int, int]:
        if not isinstance(cfg, dict):
            raise ValueError(f'{where} must be a dict(out_channels, kernel_size, stride), '
                             f'got {cfg!r}')
        unknown = set(cfg) - {'out_channels', 'kernel_size', 'stride'}
        if unknown or 'out_channels' not in cfg:
            raise ValueError(f'{where}: expected keys out_channels[, kernel_size, stride], '
                             f'got {sorted(cfg)}')
        out_channels = _check_positive_int(cfg['out_channels'], f'{where}.out_channels')
        kernel_size = _check_positive_int(cfg.get('kernel_size', 3), f'{where}.kernel_size')
        conv_stride = _check_positive_int(cfg.get('stride', 1), f'{where}.stride')
        conv = self._conv(channels, out_channels, kernel_size, conv_stride)
        return conv, out_channels, stride * conv_stride

    def _make_rnnpool(self, cfg: ConfigType, in_channels: int) -> nn.Module:
        cfg = copy.deepcopy(dict(cfg))
        given = cfg.setdefault('in_channels', in_channels)
        if given != in_channels:
            raise ValueError(f'backbone.rnnpool.in_channels={given} but the stem gives '
                             f'{in_channels} channels (leave it out to infer it)')
        return MODELS.build(cfg)

    @staticmethod
    def _rnnpool_out_channels(rnnpool: nn.Module) -> int:
        out_channels = getattr(rnnpool, 'out_channels', None)
        if out_channels is None:
            out_channels = 4 * rnnpool.hidden_channels[1]
        return int(out_channels)

    def _make_stage(self, spec: dict, channels: int, stride: int,
                    where: str) -> Tuple[nn.Sequential, int, int]:
        if not isinstance(spec, dict) or spec.get('type') not in STAGE_TYPES:
            raise ValueError(f'{where} must be a dict with type in {STAGE_TYPES}, got {spec!r}')
        kind = spec['type']
        required = _STAGE_KEYS[kind] - _OPTIONAL_KEYS[kind]
        if not required <= set(spec) or not set(spec) <= _STAGE_KEYS[kind]:
            raise ValueError(f'{where}: a {kind!r} stage takes keys {sorted(_STAGE_KEYS[kind])}, '
                             f'got {sorted(spec)}')
        out_channels = _check_positive_int(spec['c'], f'{where}.c')
        repeats = _check_positive_int(spec['n'], f'{where}.n')
        first_stride = _check_positive_int(spec['s'], f'{where}.s')
        layers = nn.Sequential()
        for i in range(repeats):
            layer_stride = first_stride if i == 0 else 1
            if kind == 'conv':
                kernel_size = _check_positive_int(spec.get('k', 3), f'{where}.k')
                layers.append(self._conv(channels, out_channels, kernel_size, layer_stride))
            elif kind == 'dwsep':
                layers.append(self._conv(channels, channels, 3, layer_stride, groups=channels))
                layers.append(self._conv(channels, out_channels, 1, 1))
            else:
                key = 'first_t' if i == 0 and 'first_t' in spec else 't'
                expand_ratio = spec[key]
                if isinstance(expand_ratio, bool) or not isinstance(expand_ratio, (int, float)) \
                        or expand_ratio < 1:
                    raise ValueError(f'{where}.{key} must be >= 1, got {expand_ratio!r}')
                if layer_stride not in (1, 2):
                    raise ValueError(f'{where}.s must be 1 or 2 for a bottleneck, '
                                     f'got {layer_stride}')
                mid_channels = int(round(channels * expand_ratio))
                layers.append(
                    InvertedResidual(
                        channels,
                        out_channels,
                        mid_channels,
                        kernel_size=3,
                        stride=layer_stride,
                        with_expand_conv=mid_channels != channels,
                        norm_cfg=self.norm_cfg,
                        act_cfg=self.act_cfg))
            channels = out_channels
            stride *= layer_stride
        return layers, channels, stride

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Compute the detection sources.

        Args:
            x (Tensor): Images of shape (N, in_channels, H, W).

        Returns:
            tuple[Tensor]: One map per detection source, strides ``self.out_strides``.
        """
        if x.dim() != 4 or x.size(1) != self.in_channels:
            raise ValueError(f'RNNPoolS3FD expects (N, {self.in_channels}, H, W) images, got '
                             f'shape {tuple(x.shape)}')
        sources = []
        for i, layer in enumerate(self.stem):
            x = layer(x)
            if i in self.stem_out_indices:
                sources.append(x)
        x = self.rnnpool(x)
        if self.replicate_pad:
            x = self.rnnpool_pad(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                sources.append(x)
        return tuple(layers(source) for layers, source in zip(self.source_layers, sources))
