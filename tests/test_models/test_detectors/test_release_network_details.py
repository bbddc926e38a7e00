"""The network details of every face config against the paper / the authors' release.

One test per row of docs/fidelity.md, "Face detection: network details": each builds the real
configs and checks the rule on the built modules (or a hand-made input).
"""
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.necks.ssd_neck import L2Norm
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdet_rnnpool  # noqa: F401  (compat fixes)
import mmdet_rnnpool.datasets  # noqa: F401  (ToGray)
import mmdet_rnnpool.models  # noqa: F401  (registers the detector parts)
from mmdet_rnnpool.ops.cells import FastGRNNCell

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs', 'rnnpool_face')
PATHS = {
    'a': 'rnnpool-face-a_1xb32-300e_widerface.py',
    'b': 'rnnpool-face-b_1xb32-300e_widerface.py',
    'c': 'rnnpool-face-c_1xb32-300e_widerface.py',
    'quant': 'rnnpool-face-quant_1xb32-300e_widerface.py',
    'm4': 'rnnpool-face-m4_1xb32-300e_widerface-qvga-gray.py',
}
# RNNPool hidden sizes (h1, h2): the release's for C, Quant, M4; the tables' channels for A, B.
HIDDEN = {'a': (4, 4), 'b': (6, 6), 'c': (16, 16), 'quant': (8, 8), 'm4': (16, 16)}
# Kernel of each level's last score / box conv.
HEAD_KERNELS = {'a': (3, ) * 6, 'b': (3, ) * 6, 'c': (5, 5, 5, 1, 1, 3), 'quant': (3, ) * 6,
                'm4': (3, ) * 4}


def _cfg(variant: str) -> Config:
    return Config.fromfile(osp.join(CONFIGS, PATHS[variant]))


def _build(variant: str, cfg_model=None):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    model = MODELS.build(cfg_model if cfg_model is not None else _cfg(variant).model)
    model.init_weights()
    return model.eval()


@pytest.fixture(scope='module')
def models():
    return {v: _build(v) for v in PATHS}


@pytest.mark.parametrize('variant', sorted(PATHS))
def test_head_kernel_sizes_per_level(models, variant):
    head = models[variant].bbox_head
    for convs in (head.cls_convs, head.reg_convs):
        assert tuple(seq[-1].kernel_size[0] for seq in convs) == HEAD_KERNELS[variant]
        assert all(seq[-1].padding[0] == seq[-1].kernel_size[0] // 2 for seq in convs)
    levels = range(1, len(head.cls_convs)) if variant == 'quant' else range(len(head.cls_convs))
    assert all(len(head.cls_convs[i]) == len(head.reg_convs[i]) == 1 for i in levels)


def test_face_quant_first_head_is_the_release_one(models):
    model = models['quant']
    # L2Norm first, straight on the stride-2 stem output (4 channels) ...
    assert [type(m) for m in model.backbone.source_layers[0]] == [L2Norm]
    assert model.backbone.out_strides[0] == 2
    # ... then separate score / box branches: 3x3 stride-2 conv + BN + ReLU 4 -> 8, 3x3 conv.
    head = model.bbox_head
    for branch, out in ((head.cls_convs[0], 1 + 3), (head.reg_convs[0], 4)):
        conv_module, last = branch
        assert isinstance(conv_module, ConvModule)
        conv = conv_module.conv
        assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == \
            (4, 8, (3, 3), (2, 2))
        assert isinstance(conv_module.bn, nn.BatchNorm2d)
        assert type(conv_module.activate) is nn.ReLU
        assert (last.in_channels, last.out_channels, last.kernel_size, last.stride) == \
            (8, out, (3, 3), (1, 1))
    # the level-0 maps at the anchors' stride 4: 160 x 120 on a 640 x 480 image
    with torch.no_grad():
        cls_scores, _ = head.forward_layers(model.backbone(torch.rand(1, 3, 480, 640)))
    assert tuple(cls_scores[0].shape[-2:]) == (120, 160)


@pytest.mark.parametrize('variant', sorted(PATHS))
def test_activations_are_relu6(models, variant):
    model = models[variant]
    acts = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    assert acts
    for name, m in acts:
        # the release's Face-Quant first-head branches use a plain ReLU
        expected = nn.ReLU if variant == 'quant' and name.startswith('bbox_head') else nn.ReLU6
        assert type(m) is expected, name


def test_face_c_first_bottleneck_expansion():
    # Paper's table: t = 6 for the first stack (kept, it matches the table's MAdds); the
    # release's first_t = 1 is one option away.
    paper = _build('c').backbone.stages[0]
    assert [b.expand_conv.conv.out_channels for b in paper] == [64 * 6, 24 * 6]
    cfg = _cfg('c')
    cfg.model.backbone.stages[0]['first_t'] = 1
    release = _build('c', cfg.model).backbone.stages[0]
    assert not release[0].with_expand_conv
    assert release[0].depthwise_conv.conv.in_channels == 64
    assert release[1].expand_conv.conv.out_channels == 24 * 6


@pytest.mark.parametrize('variant', sorted(PATHS))
def test_rnnpool_and_fastgrnn(models, variant):
    backbone = models[variant].backbone
    pool = backbone.rnnpool
    assert pool.kernel_size == (8, 8) and pool.stride == (4, 4) and pool.padding == (0, 0)
    assert pool.hidden_channels == HIDDEN[variant] and pool.cell == 'fastgrnn'
    assert pool.nonlinearity == ('quant' if variant == 'quant' else 'standard')
    # one replicated row / column after RNNPool
    assert backbone.replicate_pad and backbone.rnnpool_pad.padding == (0, 1, 0, 1)
    for cell in (pool.rnn1, pool.rnn2):
        assert isinstance(cell, FastGRNNCell)
        # gate / update biases start at 1; sigmoid(zeta) = 1, sigmoid(nu) = 0, not trained
        assert cell.bias_gate.unique().tolist() == [1.0]
        assert cell.bias_update.unique().tolist() == [1.0]
        assert torch.sigmoid(cell.zeta).item() == 1.0 and torch.sigmoid(cell.nu).item() == 0.0
        assert not any(name in ('zeta', 'nu') for name, _ in cell.named_parameters())


@pytest.mark.parametrize('variant', sorted(PATHS))
def test_l2norm_scales_and_max_out(models, variant):
    model = models[variant]
    norms = [[m for m in seq if isinstance(m, L2Norm)] for seq in model.backbone.source_layers]
    assert [n[0].weight.unique().tolist() for n in norms[:3]] == [[10.], [8.], [5.]]
    assert not any(norms[3:])
    head = model.bbox_head
    assert head.max_out_levels == (0, ) and head.num_max_out == 3
    assert head.cls_convs[0][-1].out_channels == 1 + 3


@pytest.mark.parametrize('variant', ['a', 'b', 'c', 'quant'])
def test_rgb_input_normalisation(models, variant):
    """RGB minus (123, 117, 104), no std: a hand-made BGR image as loaded from disk."""
    pre = models[variant].data_preprocessor
    bgr = torch.tensor([[[10., 200.], [255., 0.]],  # B
                        [[20., 117.], [0., 255.]],  # G
                        [[30., 123.], [128., 64.]]])  # R
    out = pre(dict(inputs=[bgr.to(torch.uint8)], data_samples=None), training=False)['inputs']
    rgb = bgr.flip(0)
    expected = rgb - torch.tensor([123., 117., 104.]).view(3, 1, 1)
    assert torch.equal(out[0], expected)
    assert out[0, :, 0, 1].tolist() == [0.0, 0.0, 96.0]


def test_grey_input_is_the_grey_of_the_mean_subtracted_image(models):
    """Face-M4: 0.299 R + 0.587 G + 0.114 B of the RGB image minus (123, 117, 104)."""
    from mmdet.registry import TRANSFORMS
    cfg = _cfg('m4')
    to_gray = [t for t in cfg.test_pipeline if t['type'] == 'ToGray']
    assert len(to_gray) == 1
    to_gray = TRANSFORMS.build(to_gray[0])
    # a float image (the training pipeline's, after the photometric distortion): exact
    bgr = np.array([[[30., 20., 10.], [104., 117., 123.]],
                    [[0., 255., 128.], [250.5, 3.25, 77.]]], dtype=np.float32)
    grey = to_gray.transform(dict(img=bgr.copy()))['img']
    pre = models['m4'].data_preprocessor
    out = pre(dict(inputs=[torch.from_numpy(grey).permute(2, 0, 1)], data_samples=None),
              training=False)['inputs'][0, 0].numpy()
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    expected = 0.299 * (r - 123) + 0.587 * (g - 117) + 0.114 * (b - 104)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)
    assert abs(out[0, 1]) < 1e-4  # the mean colour is grey 0
    # uint8 (the test pipeline, a grey camera): the grey is rounded to an integer first
    grey8 = to_gray.transform(dict(img=np.round(bgr).astype(np.uint8)))['img']
    out8 = pre(dict(inputs=[torch.from_numpy(grey8).permute(2, 0, 1)], data_samples=None),
               training=False)['inputs'][0, 0].numpy()
    np.testing.assert_allclose(out8, expected, rtol=0, atol=0.5 + 0.3)
    assert math.isclose(float(pre.mean.item()), 0.299 * 123 + 0.587 * 117 + 0.114 * 104,
                        abs_tol=1e-5)
    assert float(pre.std.item()) == 1.0
