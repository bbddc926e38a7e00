"""Exporter-side corrections of the int8 program against the float model (bias and gain)."""
import numpy as np
import torch

from mcu_export.quantize import ActQuant
from mcu_export.reference import conv2d
from mcu_export.torch_export import _bias_correct, quantize_conv


def _layer_and_data(seed=0):
    torch.manual_seed(seed)
    conv = torch.nn.Conv2d(8, 6, 3, padding=1)
    x = torch.randn(3, 8, 10, 12)
    with torch.no_grad():
        y = conv(x)
    in_q = ActQuant(float(x.abs().max()) / 127.5, 0)
    out_q = ActQuant(float(y.abs().max()) / 127.5, 0)
    layer = quantize_conv(conv, 'conv', 'conv', (10, 12, 8), in_q, out_q)
    xs = [in_q.quantize(xi.permute(1, 2, 0).numpy()) for xi in x]
    floats = [yi.permute(1, 2, 0).double().numpy() for yi in y]
    return layer, xs, floats, out_q


def _errors(layer, xs, floats, out_q):
    outs = np.stack([out_q.dequantize(conv2d(layer, xi)) for xi in xs])
    f = np.stack(floats)
    d = (outs - f).reshape(-1, f.shape[-1])
    fc = f.reshape(-1, f.shape[-1]) - f.reshape(-1, f.shape[-1]).mean(0)
    slope = (fc * (outs.reshape(d.shape) - outs.reshape(d.shape).mean(0))).sum(0) / (
        fc**2).sum(0)
    return np.abs(d.mean(0)).max(), np.abs(slope - 1).max(), np.sqrt((d**2).mean())


def test_gain_and_bias_correction_cancel_a_systematic_error():
    layer, xs, floats, out_q = _layer_and_data()
    good_rms = _errors(layer, xs, floats, out_q)[2]
    # a 10 % gain loss and an offset, as an int8 chain upstream could cause
    layer.multiplier = (layer.multiplier.astype(np.int64) * 9 // 10).astype(np.int32)
    layer.bias = layer.bias + np.int32(3000)
    mean_err, slope_err, rms = _errors(layer, xs, floats, out_q)
    assert slope_err > 0.08 and rms > 2 * good_rms
    biased_only = _layer_and_data()[0]
    biased_only.multiplier, biased_only.bias = layer.multiplier.copy(), layer.bias.copy()
    _bias_correct(biased_only, xs, floats, out_q, conv2d)  # bias only: the gain error stays
    assert _errors(biased_only, xs, floats, out_q)[1] > 0.08
    _bias_correct(layer, xs, floats, out_q, conv2d, gain=True)
    mean_err, slope_err, rms = _errors(layer, xs, floats, out_q)
    assert slope_err < 0.01 and mean_err < out_q.scale and rms < 1.1 * good_rms
    assert layer.multiplier.dtype == np.int32 and layer.rshift.dtype == np.int8
