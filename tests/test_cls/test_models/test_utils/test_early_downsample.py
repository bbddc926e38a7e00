"""The early down-sampling layer: every Table 2 operator, padded to a whole stride."""
import pytest
import torch
import torch.nn as nn

import mmdet_rnnpool.cls  # noqa: F401
from mmdet_rnnpool.cls.models.utils import EarlyDownsample, ReplicatePadToStride
from mmdet_rnnpool.ops import ReNet, RNNPool


def test_rnnpool_27_patches_padded_to_28_by_replication():
    # Table 10 / the VWW model: patch 6, stride 4 on 112 x 112 gives 27 x 27 patches; the
    # authors' release pads to 28 x 28 by replicating the last row and column.
    layer = EarlyDownsample(8, dict(type='RNNPool', hidden_channels=8, kernel_size=6, stride=4))
    assert isinstance(layer.layer, RNNPool) and layer.out_channels == 32
    x = torch.randn(1, 8, 112, 112)
    y = layer(x)
    assert y.shape == (1, 32, 28, 28)
    core = layer.layer(x)
    assert core.shape == (1, 32, 27, 27)
    torch.testing.assert_close(y[:, :, :27, :27], core)
    torch.testing.assert_close(y[:, :, 27, :27], core[:, :, 26])
    torch.testing.assert_close(y[:, :, :27, 27], core[:, :, :, 26])
    torch.testing.assert_close(y[:, :, 27, 27], core[:, :, 26, 26])


@pytest.mark.parametrize('cfg, channels', [
    (dict(type='AvgPool2d', kernel_size=4), 16),
    (dict(type='MaxPool2d', kernel_size=4), 16),
    (dict(type='StridedConv', out_channels=24, kernel_size=6, stride=4), 24),
    (dict(type='ReNet', hidden_channels=12, patch_size=4), 24),
    (dict(type='RNNPool', hidden_channels=6, kernel_size=8, stride=4), 24),
])
def test_every_operator_reaches_stride_4(cfg, channels):
    layer = EarlyDownsample(16, cfg)
    assert layer.out_channels == channels and layer.stride == (4, 4)
    for size in (32, 30, 112):
        y = layer(torch.randn(2, 16, size, size))
        assert y.shape == (2, channels, -(-size // 4), -(-size // 4))


def test_pools_are_the_torch_pools():
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(EarlyDownsample(3, dict(type='AvgPool2d'))(x),
                               nn.functional.avg_pool2d(x, 4))
    torch.testing.assert_close(EarlyDownsample(3, dict(type='MaxPool2d'))(x),
                               nn.functional.max_pool2d(x, 4))
    assert isinstance(EarlyDownsample(3, dict(type='ReNet')).layer, ReNet)


def test_pad_is_a_no_op_on_whole_strides_and_bad_configs_say_so():
    pad = ReplicatePadToStride((4, 4))
    pad.target = (4, 4)
    x = torch.randn(1, 2, 4, 4)
    assert pad(x) is x
    with pytest.raises(ValueError, match='must be a dict with a type'):
        EarlyDownsample(3, 'RNNPool')
    with pytest.raises(ValueError, match='StridedConv needs out_channels'):
        EarlyDownsample(3, dict(type='StridedConv'))
