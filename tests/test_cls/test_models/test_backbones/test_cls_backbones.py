"""The RNNPool classifiers have the paper's structure (Tables 9 and 10, the VWW model)."""
import pytest
import torch

import mmdet_rnnpool.cls  # noqa: F401
from mmdet_rnnpool.cls.models.backbones import (DenseNetRNNPool, EfficientNetRNNPool, GoogLeNet,
                                                GoogLeNetRNNPool, MobileNetV1,
                                                MobileNetV1RNNPool, MobileNetV2RNNPool,
                                                ResNetRNNPool)
from mmdet_rnnpool.ops import RNNPool


def _shape_after(model, module, size):
    """Output shape of ``module`` when ``model`` runs on a ``size x size`` image."""
    seen = {}

    def hook(module, inputs, output):
        seen.setdefault('shape', tuple(output.shape))

    handle = module.register_forward_hook(hook)
    model.eval()  # (MMPretrain's train() returns None: no chaining)
    with torch.no_grad():
        outs = model(torch.zeros(1, 3, size, size))
    handle.remove()
    return seen['shape'], outs


def test_vww_model_at_224():
    # 8-channel stem, RNNPool patch 6 stride 4 h 8 (32 channels, 28 x 28), width 0.35, 320 last.
    model = MobileNetV2RNNPool(widen_factor=0.35, stem_channels=8, last_channels=320,
                               downsample=dict(type='RNNPool', hidden_channels=8, kernel_size=6,
                                               stride=4))
    assert model.conv1.conv.out_channels == 8
    pool = model.downsample.layer
    assert (pool.kernel_size, pool.stride, pool.hidden_channels) == ((6, 6), (4, 4), (8, 8))
    assert model.layers == ['downsample', 'layer4', 'layer5', 'layer6', 'layer7', 'conv2']
    assert not hasattr(model, 'layer1') and not hasattr(model, 'layer3')
    # Table 10 from row 3 on at width 0.35: 64 -> 24, 96 -> 32, 160 -> 56, 320 -> 112.
    assert [getattr(model, f'layer{i}')[-1].conv[-1].conv.out_channels
            for i in range(4, 8)] == [24, 32, 56, 112]
    assert model.layer4[0].conv[0].conv.in_channels == 32  # takes RNNPool's 4 * 8 channels
    shape, outs = _shape_after(model, model.downsample, 224)
    assert shape == (1, 32, 28, 28)
    assert outs[-1].shape == (1, 320, 7, 7)


def test_vww_baseline_keeps_the_early_blocks():
    model = MobileNetV2RNNPool(widen_factor=0.35, stem_channels=8, last_channels=320,
                               downsample=None)
    assert model.layers[:3] == ['layer1', 'layer2', 'layer3'] and 'downsample' not in model.layers
    assert model.layer1[0].conv[0].conv.in_channels == 8
    assert model(torch.zeros(1, 3, 64, 64))[-1].shape == (1, 320, 2, 2)


def test_mobilenet_v2_rnnpool_table_10():
    model = MobileNetV2RNNPool()
    pool = model.downsample.layer
    assert (pool.in_channels, pool.out_channels, pool.kernel_size) == (32, 64, (6, 6))
    assert model.layer4[0].conv[0].conv.in_channels == 64
    with pytest.raises(ValueError, match='frozen_stages'):
        MobileNetV2RNNPool(frozen_stages=1)
    with pytest.raises(ValueError, match='out_indices'):
        MobileNetV2RNNPool(out_indices=(6, ))


def test_two_rnnpools_and_stride_8():
    two = MobileNetV2RNNPool(downsample=[
        dict(type='RNNPool', hidden_channels=16, kernel_size=6, stride=4),
        dict(type='RNNPool', hidden_channels=16, kernel_size=4, stride=2)
    ], num_replaced=4)
    assert two.layers[1] == 'layer5' and two.layer5[0].conv[0].conv.in_channels == 64
    shape, _ = _shape_after(two, two.downsample, 64)
    assert shape == (1, 64, 4, 4)  # 64 px: stride 16 after both
    s8 = MobileNetV2RNNPool(downsample=dict(type='RNNPool', hidden_channels=16, kernel_size=12,
                                            stride=8), num_replaced=4)
    assert _shape_after(s8, s8.downsample, 64)[0] == (1, 64, 4, 4)


def test_efficientnet_resnet_densenet_googlenet_mobilenet_v1():
    eff = EfficientNetRNNPool()
    assert eff.layers[1].layer.out_channels == 64
    assert eff.layers[2][0].expand_conv.conv.in_channels == 64  # the 80-channel stage's expansion
    assert _shape_after(eff, eff.layers[1], 64)[0] == (1, 64, 8, 8)

    res = ResNetRNNPool()
    assert res.conv1.kernel_size == (3, 3) and res.res_layers == ['layer3', 'layer4']
    assert res.downsample.layer.hidden_channels == (32, 32)
    assert _shape_after(res, res.downsample, 64)[0] == (1, 128, 8, 8)

    dense = DenseNetRNNPool()
    assert dense.downsample.out_channels == 192 and len(dense.stages) == 2
    assert dense.transitions[0].conv.in_channels == 192
    assert dense.transitions[0].conv.out_channels == 256  # D3 as in DenseNet121
    assert dense(torch.zeros(1, 3, 64, 64))[-1].shape == (1, 1024, 2, 2)
    pools = DenseNetRNNPool(transition_pool=dict(type='RNNPool', kernel_size=4, stride=2))
    assert [t.pool.layer.hidden_channels for t in pools.transitions[:-1]] == [(64, 64),
                                                                            (128, 128)]
    assert pools(torch.zeros(1, 3, 64, 64))[-1].shape == (1, 1024, 2, 2)

    goog = GoogLeNetRNNPool()
    assert goog.stem[1].out_channels == 128 and goog.stages[0][0].branch1.conv.in_channels == 128
    assert GoogLeNet().stages[0][0].branch1.conv.in_channels == 192
    assert goog(torch.zeros(1, 3, 64, 64))[-1].shape == (1, 1024, 2, 2)

    v1 = MobileNetV1RNNPool()
    assert len(v1.stages) == 3 and v1.stages[0][1][0].conv.in_channels == 64
    assert sum(isinstance(m, RNNPool) for m in v1.modules()) == 1
    assert v1(torch.zeros(1, 3, 64, 64))[-1].shape == (1, 1024, 2, 2)
    assert MobileNetV1()(torch.zeros(1, 3, 64, 64))[-1].shape == (1, 1024, 2, 2)
