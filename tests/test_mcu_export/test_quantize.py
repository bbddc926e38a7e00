"""Quantisation helpers: BN folding, weight / activation quantisation, multipliers."""
import numpy as np
import pytest
import torch

from mcu_export.quantize import (RangeObserver, act_quant_from_range, add_params, fold_batchnorm,
                                 quantize_bias, quantize_multiplier, quantize_weights_per_channel,
                                 sigmoid_q14)
from mcu_export.reference import requantize


def test_fold_batchnorm_matches_torch():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 5, 3, padding=1, bias=True)
    bn = torch.nn.BatchNorm2d(5)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(1, 3, 6, 7)
    w, b = fold_batchnorm(conv.weight.detach().numpy(), conv.bias.detach().numpy(),
                          bn.running_mean.numpy(), bn.running_var.numpy(),
                          bn.weight.detach().numpy(), bn.bias.detach().numpy(), bn.eps)
    folded = torch.nn.functional.conv2d(x.double(), torch.from_numpy(w), torch.from_numpy(b),
                                        padding=1)
    assert torch.allclose(folded.float(), bn(conv(x)), atol=1e-5)


def test_weights_per_channel_symmetric():
    w = np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [2.0, 1.0, -0.1]])
    q, s = quantize_weights_per_channel(w)
    assert q.dtype == np.int8 and np.abs(q).max() == 127
    assert np.allclose(s, [1 / 127, 1.0, 2 / 127])
    assert np.all(q[1] == 0)
    assert np.abs(q * s[:, None] - w).max() <= s.max() / 2 + 1e-12


@pytest.mark.parametrize('scale', [1e-9, 3.1e-6, 0.0123, 0.5, 0.999999, 1.0, 7.3, 12345.6])
def test_quantize_multiplier_accuracy(scale):
    mult, rshift = quantize_multiplier(scale)
    assert 1 <= rshift <= 62
    assert (1 << 30) <= mult < (1 << 31) or rshift == 62
    assert abs(mult / 2**rshift - scale) <= scale * 2**-30 + 2**-62
    # applied through the runtime's rounding, it matches round-half-up of the float product
    acc = np.arange(-5000, 5000, 37, dtype=np.int64)
    expected = np.floor(acc * (mult / 2**rshift) + 0.5)
    assert np.array_equal(requantize(acc, mult, rshift), expected)


def test_quantize_multiplier_rejects_bad_scales():
    assert quantize_multiplier(0.0) == (0, 1)
    for bad in (-1.0, float('nan'), 2.0**31):
        with pytest.raises(ValueError):
            quantize_multiplier(bad)


def test_activation_ranges():
    q = act_quant_from_range(-1.0, 3.0)
    assert q.quantize(np.array([0.0]))[0] == q.zero_point
    assert q.quantize(np.array([-1.0]))[0] == -128 and q.quantize(np.array([3.0]))[0] == 127
    relu = act_quant_from_range(0.0, 6.0)
    assert relu.zero_point == -128 and relu.clamp('relu6') == (-128, 127)
    lo, hi = act_quant_from_range(0.0, 10.0).clamp('relu6')
    assert lo == -128 and hi == -128 + round(6 / (10 / 255))
    obs = RangeObserver('x')
    with pytest.raises(ValueError, match="tensor 'x'"):
        obs.act_quant()
    obs.update(np.array([0.5, 2.0]))
    obs.update(np.array([-0.5]))
    assert (obs.lo, obs.hi) == (-0.5, 2.0)


def test_bias_and_add_params():
    b = quantize_bias(np.array([0.1, -0.2]), 0.05, np.array([0.01, 0.02]))
    assert b.tolist() == [200, -200]
    p = add_params(0.02, 0.04, 0.05)
    assert p['left_shift'] == 20
    assert abs(p['input2_multiplier'] / 2**p['input2_rshift'] - 0.5) < 1e-9
    assert sigmoid_q14(0.0) == 8192 and sigmoid_q14(100.0) == 16384
