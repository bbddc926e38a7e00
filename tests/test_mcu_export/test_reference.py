"""The integer reference against independent float computations of the same maths."""
import numpy as np
import torch

from mcu_export import reference as ref
from mcu_export.random_model import random_conv, random_rnnpool


def test_conv_reference_matches_torch_accumulators():
    rng = np.random.default_rng(0)
    for depthwise in (False, True):
        layer = random_conv(rng, 'c', (7, 9, 4), 6, (3, 3), (2, 1), (1, 1), depthwise=depthwise)
        x = rng.integers(-128, 128, layer.in_shape).astype(np.int8)
        xt = torch.from_numpy(x.astype(np.float64) + layer.input_offset).permute(2, 0, 1)[None]
        if depthwise:
            w = torch.from_numpy(layer.weights.astype(np.float64)).permute(2, 0, 1)[:, None]
            groups = layer.in_shape[2]
        else:
            w = torch.from_numpy(layer.weights.astype(np.float64)).permute(0, 3, 1, 2)
            groups = 1
        acc = torch.nn.functional.conv2d(xt, w, torch.from_numpy(layer.bias.astype(np.float64)),
                                         stride=layer.stride, padding=layer.pad, groups=groups)
        acc = acc[0].permute(1, 2, 0).numpy()
        scale = layer.multiplier.astype(np.float64) / 2.0**layer.rshift.astype(np.float64)
        expected = np.clip(np.floor(acc * scale + 0.5) + layer.output_offset, layer.act_min,
                           layer.act_max)
        assert np.array_equal(ref.conv2d(layer, x), expected.astype(np.int8))


def test_rnnpool_reference_tracks_float_fastgrnn():
    """The fixed-point cell equals a float FastGRNN with quant nonlinearities up to rounding."""
    rng = np.random.default_rng(1)
    layer = random_rnnpool(rng, 'p', (8, 8, 3), 6, 5, (8, 8), (4, 4))
    x = rng.integers(-128, 128, (1, 8, 8, 3)).astype(np.int8)

    def cell_float(cell, xs, in_scale):
        w = cell.w * (cell.w_multiplier / 2.0**cell.w_rshift)[:, None] / (in_scale * 16384)
        u = cell.u * (cell.u_multiplier / 2.0**cell.u_rshift)[:, None]
        h = np.zeros((xs.shape[0], cell.hidden_size))
        for t in range(xs.shape[1]):
            pre = xs[:, t] * in_scale @ w.T + h @ u.T
            z = np.clip((pre + cell.bias_gate / 16384 + 1) / 2, 0, 1)
            ht = np.clip(pre + cell.bias_update / 16384, -1, 1)
            h = z * h + (cell.zeta_q14 / 16384 * (1 - z) + cell.nu_q14 / 16384) * ht
        return h

    xs = (x.astype(np.float64) + layer.input_offset) * 64  # as the runtime feeds RNN1
    rows = cell_float(layer.rnn1, xs.reshape(8, 8, 3), 1.0)
    cols = cell_float(layer.rnn1, xs.transpose(0, 2, 1, 3).reshape(8, 8, 3), 1.0)
    outs = []
    for seq in (rows[None], cols[None]):
        outs += [cell_float(layer.rnn2, seq * 16384, 1 / 16384),
                 cell_float(layer.rnn2, seq[:, ::-1] * 16384, 1 / 16384)]
    h_float = np.concatenate(outs, axis=1)[0]
    got = ref.rnnpool_patches(layer, x).astype(np.float64)[0] - layer.output_offset
    out_scale = layer.output_multiplier / 2.0**layer.output_rshift * 16384
    inside = np.abs(h_float * out_scale) < 120  # away from int8 saturation
    err = np.abs(got - h_float * out_scale)[inside]
    assert inside.sum() > 10 and err.max() <= 2.0, err.max()


def test_activation_tables_track_sigmoid_tanh():
    from mcu_export.quantize import activation_tables
    sig, tanh = activation_tables()
    x = np.arange(-10 * 16384, 10 * 16384, 7, dtype=np.int64)
    xf = x / 16384.0
    assert np.abs(ref.act_table(sig, x) / 16384 - 1 / (1 + np.exp(-xf))).max() < 4e-4
    assert np.abs(ref.act_table(tanh, x) / 16384 - np.tanh(xf)).max() < 4e-4
