"""Complexity counting against a hand calculation of a small spec, and against the paper."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdet_rnnpool.models  # noqa: F401  (registers the components)
from mmdet_rnnpool.models.backbones import RNNPoolS3FD
from mmdet_rnnpool.models.utils import (DetectorLayers, analyze_complexity, rnnpool_macs,
                                        variant_of_config)
from mmdet_rnnpool.ops import RNNPool

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs', 'rnnpool_face')


def _small_backbone(out_indices=(0, 2)) -> RNNPoolS3FD:
    return RNNPoolS3FD(
        in_channels=3,
        stem=[dict(out_channels=4, kernel_size=3, stride=2)],
        rnnpool=dict(type='RNNPool', hidden_channels=(2, 3), kernel_size=4, stride=2),
        stages=[
            dict(type='bottleneck', t=2, c=8, n=1, s=2),
            dict(type='conv', c=16, n=1, s=2, k=3),
            dict(type='conv', c=6, n=1, s=1, k=1),
        ],
        out_indices=out_indices,
        l2_norm_scales=(10., ))


def test_rnnpool_macs_by_hand():
    # 4 input channels, h1 = 2, h2 = 3, 4x4 patches with stride 2 on 24 x 32: 11 x 15 patches.
    # RNN1: 2 * 4 * 4 = 32 steps of 2 * (4 + 2) = 12; RNN2: 2 * (4 + 4) = 16 steps of
    # 3 * (2 + 3) = 15 -> 624 per patch, 272 of them recurrent (32 * 2 * 2 + 16 * 3 * 3).
    layer = RNNPool(4, hidden_channels=(2, 3), kernel_size=4, stride=2)
    assert rnnpool_macs(layer, 24, 32) == (165 * 624, 165 * 272)
    # A GRU cell has 3 gate blocks: three times the products.
    gru = RNNPool(4, hidden_channels=(2, 3), kernel_size=4, stride=2, cell='gru')
    assert rnnpool_macs(gru, 24, 32) == (3 * 165 * 624, 3 * 165 * 272)


def test_small_spec_by_hand():
    report = analyze_complexity(_small_backbone(), (3, 48, 64))
    # Parameters (conv weights + BN weight / bias; FastGRNN: W, U, two biases; zeta and nu
    # are fixed buffers):
    stem = 4 * 3 * 9 + 2 * 4  # 3x3 conv 3 -> 4
    rnnpool = (2 * 4 + 2 * 2 + 2 * 2) + (3 * 2 + 3 * 3 + 2 * 3)
    mbconv = (12 * 24 + 48) + (24 * 9 + 48) + (24 * 8 + 16)  # 12 -> 24 -> dw -> 8
    conv3 = 8 * 16 * 9 + 32
    conv1 = 16 * 6 + 12
    l2norm = 8
    assert report.params == stem + rnnpool + mbconv + conv3 + conv1 + l2norm == 2261
    # MAdds: stem at 24 x 32; RNNPool (above); MBConv expand at 12 x 16, depthwise and project
    # at 6 x 8; 3x3 conv at 3 x 4; 1x1 conv at 3 x 4.
    macs = (24 * 32 * 4 * 3 * 9 + 165 * 624 + 12 * 16 * 24 * 12 + 6 * 8 * 24 * 9 +
            6 * 8 * 8 * 24 + 3 * 4 * 16 * 8 * 9 + 3 * 4 * 6 * 16)
    assert report.macs == macs == 275760
    assert report.rnn_recurrent_macs == 165 * 272
    # Peak RAM: the stem feeds RNNPool (on the fly); RNNPool writes 12 x 16 x 12 (padded);
    # the MBConv block holds that + its 6 x 8 x 8 output.
    costs = {b.name: (b.in_values, b.out_values) for b in report.blocks}
    assert costs['stem.0'] == (0, 0)
    assert costs['rnnpool'] == (0, 12 * 16 * 12)
    assert costs['stages.0.0'] == (12 * 16 * 12, 6 * 8 * 8)
    # The 1x1 conv reads the 3x3 conv's output pixel by pixel: the pair is 3x3-in + 1x1-out.
    assert costs['stages.1.0'] == (6 * 8 * 8, 3 * 4 * 6)
    assert 'stages.2.0' not in costs and 'rnnpool_pad' not in costs
    assert report.peak_ram_values == 2304 + 384
    assert report.peak_block == 'stages.0.0'
    assert report.peak_ram_bytes('float32') == 4 * 2688
    assert report.peak_ram_bytes('int8') == 2688
    with pytest.raises(ValueError, match='dtype'):
        report.peak_ram_bytes('int4')


def test_1x1_conv_after_a_source_is_not_fused():
    # When the 3x3 conv's output is itself a detection source it must exist whole.
    report = analyze_complexity(_small_backbone(out_indices=(0, 1, 2)), (3, 48, 64))
    costs = {b.name: (b.in_values, b.out_values) for b in report.blocks}
    assert costs['stages.1.0'] == (6 * 8 * 8, 3 * 4 * 16)
    assert costs['stages.2.0'] == (3 * 4 * 16, 3 * 4 * 6)


def test_bad_input_shape():
    with pytest.raises(ValueError, match='input_shape'):
        analyze_complexity(_small_backbone(), (48, 64))


def _build(variant: str):
    from mmdet.registry import MODELS
    path, = glob.glob(osp.join(CONFIG_DIR, f'{variant}_*300e_widerface*.py'))
    assert variant_of_config(path) == variant
    init_default_scope('mmdet')
    return MODELS.build(Config.fromfile(path).model)


def test_convention_reproduces_the_papers_pinned_figures():
    """Face-Quant's 225 KB int8 and Face-C's 6.44 MB float32 (MiB) peak RAM."""
    quant = analyze_complexity(DetectorLayers(_build('rnnpool-face-quant')), (3, 480, 640))
    assert quant.peak_ram_bytes('int8') == 80 * 60 * (32 + 16) == 225 * 1024
    assert quant.peak_block == 'detector.backbone.stages.0.0'
    face_c = analyze_complexity(DetectorLayers(_build('rnnpool-face-c')), (3, 480, 640))
    assert face_c.peak_ram_bytes('float32') == 4 * 160 * 120 * (64 + 24)
    assert face_c.peak_ram_bytes('float32') / 2**20 == pytest.approx(6.44, abs=0.01)
    # The head is counted in MAdds but not in the peak (its outputs are decoded on the fly).
    assert not any('bbox_head' in b.name for b in face_c.blocks)
    assert any('bbox_head' in name for name in face_c.macs_by_module)


def test_detector_layers_outputs():
    model = _build('rnnpool-face-m4').eval()
    with torch.no_grad():
        outs = DetectorLayers(model)(torch.rand(1, 1, 240, 320))
        raw = DetectorLayers(model, raw=True)(torch.rand(1, 1, 240, 320))
    assert [o.shape[1] for o in outs] == [2, 2, 2, 2, 4, 4, 4, 4]
    assert [o.shape[1] for o in raw] == [4, 2, 2, 2, 4, 4, 4, 4]
