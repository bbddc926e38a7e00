"""RNNPoolS3FD: every paper variant built from its real config, spec validation, module tree."""
import glob
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.layers import InvertedResidual
from mmdet.models.necks.ssd_neck import L2Norm
from mmengine.config import Config

import mmdet_rnnpool.models  # noqa: F401  (registers the components)
from mmdet_rnnpool.models.backbones import RNNPoolS3FD
from mmdet_rnnpool.ops import RNNPool
from mmdet_rnnpool.ops.cells import BaseRNNCell

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs', 'rnnpool_face')

# variant -> (input C, H, W), source (channels, H, W) at that input, source strides.
EXPECTED = {
    'rnnpool-face-a': ((3, 480, 640), [(16, 120, 160), (16, 60, 80), (24, 30, 40), (32, 15, 20),
                                       (128, 8, 10), (160, 4, 5)], (4, 8, 16, 32, 64, 128)),
    'rnnpool-face-b': ((3, 480, 640), [(24, 120, 160), (32, 60, 80), (64, 30, 40),
                                       (128, 15, 20), (160, 8, 10), (320, 4, 5)],
                       (4, 8, 16, 32, 64, 128)),
    'rnnpool-face-c': ((3, 480, 640), [(24, 120, 160), (32, 60, 80), (64, 30, 40), (96, 15, 20),
                                       (160, 8, 10), (320, 4, 5)], (4, 8, 16, 32, 64, 128)),
    # Face-Quant's first source is the stride-2 stem output (its head's branches stride it).
    'rnnpool-face-quant': ((3, 480, 640), [(4, 240, 320), (16, 60, 80), (24, 30, 40),
                                           (32, 15, 20), (64, 8, 10), (96, 4, 5)],
                           (2, 8, 16, 32, 64, 128)),
    'rnnpool-face-m4': ((1, 240, 320), [(32, 30, 40), (32, 30, 40), (64, 15, 20), (64, 15, 20)],
                        (8, 8, 16, 16)),
}


def _variant_configs():
    # The paper's recipe of each variant (other configs may reuse a variant's model).
    paths = sorted(glob.glob(osp.join(CONFIG_DIR, 'rnnpool-face-*300e_widerface*.py')))
    variants = [osp.basename(p).split('_')[0] for p in paths]
    assert len(set(variants)) == len(variants), f'two paper configs for one variant: {paths}'
    return dict(zip(variants, paths))


def _build_backbone(path: str) -> RNNPoolS3FD:
    cfg = Config.fromfile(path)
    backbone_cfg = cfg.model.backbone.to_dict()
    assert backbone_cfg.pop('type') == 'RNNPoolS3FD'
    return RNNPoolS3FD(**backbone_cfg)


def test_one_config_per_variant():
    assert sorted(_variant_configs()) == sorted(EXPECTED)


@pytest.mark.parametrize('variant', sorted(EXPECTED))
def test_variant_output_shapes(variant):
    path = _variant_configs()[variant]
    backbone = _build_backbone(path).eval()
    input_shape, sources, strides = EXPECTED[variant]
    with torch.no_grad():
        outs = backbone(torch.rand(1, *input_shape))
    assert [tuple(o.shape[1:]) for o in outs] == sources
    assert backbone.out_strides == strides
    assert backbone.out_channels == tuple(s[0] for s in sources)
    # The head of the config reads exactly these channels.
    assert tuple(Config.fromfile(path).model.bbox_head.in_channels) == backbone.out_channels
    # Each source's size is the input's divided by its stride (rounded up).
    for (_, h, w), stride in zip(sources, strides):
        assert (h, w) == (-(-input_shape[1] // stride), -(-input_shape[2] // stride))


def test_stride4_map_is_160x120_with_replicate_pad():
    path = _variant_configs()['rnnpool-face-c']
    backbone = _build_backbone(path).eval()
    x = torch.rand(1, 3, 480, 640)
    with torch.no_grad():
        pooled = backbone.rnnpool(x)
        padded = backbone.rnnpool_pad(pooled)
    assert pooled.shape[-2:] == (119, 159)
    assert padded.shape[-2:] == (120, 160)
    # The added row / column replicate the last ones.
    torch.testing.assert_close(padded[..., -1, :-1], pooled[..., -1, :])
    torch.testing.assert_close(padded[..., :-1, -1], pooled[..., :, -1])


ALLOWED_LEAVES = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.ReplicationPad2d, L2Norm)


@pytest.mark.parametrize('variant', sorted(EXPECTED))
def test_module_tree_is_exportable(variant):
    """Only the documented layer kinds, so an integer exporter can walk the tree."""
    backbone = _build_backbone(_variant_configs()[variant])
    assert [name for name, _ in backbone.named_children()] == \
        ['stem', 'rnnpool', 'rnnpool_pad', 'stages', 'source_layers']

    def check(module: nn.Module, path: str) -> None:
        if isinstance(module, (RNNPool, BaseRNNCell, ALLOWED_LEAVES)):
            return
        if isinstance(module, ConvModule):
            assert set(dict(module.named_children())) <= {'conv', 'bn', 'activate'}, path
        elif isinstance(module, InvertedResidual):
            # drop_path is an nn.Identity when drop_path_rate is 0 (always, here).
            assert isinstance(module.drop_path, nn.Identity) and not module.with_se, path
            assert not module.with_cp, path
        else:
            assert type(module) in (nn.Sequential, nn.ModuleList), f'{path}: {type(module)}'
        for name, child in module.named_children():
            if not isinstance(child, nn.Identity):
                check(child, f'{path}.{name}')

    for name, child in backbone.named_children():
        check(child, f'backbone.{name}')
    kinds = {type(m) for m in backbone.modules()}
    assert RNNPool in kinds and L2Norm in kinds


def test_l2norm_scales_and_source_convs():
    backbone = _build_backbone(_variant_configs()['rnnpool-face-quant'])
    norms = [layers[-1] for layers in backbone.source_layers[:3]]
    assert [n.weight.detach().unique().tolist() for n in norms] == [[10.], [8.], [5.]]
    assert not any(isinstance(m, L2Norm) for m in backbone.source_layers[3:].modules())
    # Face-Quant's first source (release): L2Norm straight on the stride-2 stem output; the
    # strided convs are the head's (bbox_head.branch_convs).
    assert len(backbone.source_layers[0]) == 1 and backbone.out_strides[0] == 2
    assert backbone.rnnpool.nonlinearity == 'quant'
    assert backbone.rnnpool.hidden_channels == (8, 8)


def _small(**overrides):
    cfg = dict(
        in_channels=3,
        rnnpool=dict(type='RNNPool', hidden_channels=(2, 2), kernel_size=4, stride=2),
        stages=[dict(type='dwsep', c=8, n=1, s=1), dict(type='bottleneck', t=2, c=8, n=2, s=2)],
        out_indices=(0, 1),
        l2_norm_scales=(10., ))
    cfg.update(overrides)
    return RNNPoolS3FD(**cfg)


def test_small_spec_forward_and_input_check():
    backbone = _small()
    outs = backbone(torch.rand(2, 3, 34, 42))
    # RNNPool: (34 - 4) / 2 + 1 = 16, (42 - 4) / 2 + 1 = 20; + 1 pad -> 17 x 21.
    assert [tuple(o.shape) for o in outs] == [(2, 8, 17, 21), (2, 8, 9, 11)]
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\)'):
        backbone(torch.rand(1, 1, 34, 42))


def _stage(**spec):
    return dict(stages=[spec], out_indices=(0, ))


@pytest.mark.parametrize('overrides, match', [
    (_stage(type='mbconv', c=8, n=1, s=1), r'backbone.stages\[0\]'),
    (_stage(type='bottleneck', c=8, n=1, s=1), r'backbone.stages\[0\].*keys'),
    (_stage(type='conv', c=8, n=0, s=1), r'backbone.stages\[0\].n'),
    (_stage(type='bottleneck', t=2, c=8, n=1, s=3), r'backbone.stages\[0\].s'),
    (_stage(type='bottleneck', t=2, first_t=0, c=8, n=1, s=1),
     r'backbone.stages\[0\].first_t must be >= 1'),
    (_stage(type='dwsep', first_t=1, c=8, n=1, s=1), r'backbone.stages\[0\].*keys'),
    (dict(out_indices=(0, 2)), 'backbone.out_indices'),
    (dict(out_indices=()), 'no detection source'),
    (dict(stem=[dict(channels=4)]), r'backbone.stem\[0\]'),
    (dict(source_convs=[None]), 'backbone.source_convs'),
    (dict(l2_norm_scales=(1., 2., 3.)), 'backbone.l2_norm_scales'),
    (dict(rnnpool=dict(type='RNNPool', in_channels=4, hidden_channels=2)),
     'backbone.rnnpool.in_channels'),
    (dict(rnnpool=dict(type='RNNPool', hidden_channels=2, kernel_size=4, stride=(2, 1))),
     'backbone.rnnpool.stride'),
])
def test_bad_spec_names_the_key(overrides, match):
    with pytest.raises(ValueError, match=match):
        _small(**overrides)


def test_bottleneck_first_t_sets_the_first_block_expansion():
    """The release's Face-C builds its first block after RNNPool with expansion 1."""
    backbone = _small(stages=[dict(type='bottleneck', t=6, first_t=1, c=8, n=3, s=1)],
                      out_indices=(0, ))
    blocks = list(backbone.stages[0])
    # 8 RNNPool channels: no expansion conv at t = 1, 48 expanded channels at t = 6
    assert not blocks[0].with_expand_conv and blocks[0].depthwise_conv.conv.in_channels == 8
    assert [b.expand_conv.conv.out_channels for b in blocks[1:]] == [48, 48]
    default = _small(stages=[dict(type='bottleneck', t=6, c=8, n=3, s=1)], out_indices=(0, ))
    assert [b.expand_conv.conv.out_channels for b in default.stages[0]] == [48, 48, 48]


def test_release_activation_is_relu6():
    backbone = _small()
    acts = [m for m in backbone.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    assert acts and all(type(m) is nn.ReLU6 for m in acts)
    # ReLU6 clamps: a conv output above 6 stays 6
    conv = backbone.stages[0][0]
    assert conv.activate(torch.tensor([-1.0, 3.0, 9.0])).tolist() == [0.0, 3.0, 6.0]
