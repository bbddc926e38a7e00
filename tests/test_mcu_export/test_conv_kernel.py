"""rp_conv_s8 (regular convolution) against the integer reference, bit for bit, on many shapes.

The kernel has a small-filter path (one pixel's kh x kw x cin patch offset once, every output
channel's dot product with it; on the DSP the filter is expanded to int16 pairs per call) and a
general path (one dot product per output channel and kernel row). The shapes cover both, with
cin 1-8 and 16, kernels 1/3/5 and non-square ones, strides 1/2 (and mixed), paddings 0-2 with
and without explicit padding values, odd widths, output channels 1-8 (the 4 / 2 / 1 channel
blocks), no bias, channels with rshift < 33 (such layers skip the blocks' short
requantisation) and the face detectors' stem / head shapes. Host gcc (also under ASan/UBSan)
runs the portable path; QEMU runs the Cortex-M4 build with the DSP path and with -DRP_NO_DSP.
"""
import shutil

import numpy as np
import pytest

from mcu_export import reference as ref
from mcu_export.ctest import (ProgramBuilder, arm_toolchain_missing, build_and_run_m4,
                              build_program, run_program, split_outputs)
from mcu_export.random_model import random_conv

pytestmark = [pytest.mark.mcu,
              pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')]

# rp_conv.c's small-filter limits (CONV_SMALL_PAIRS, CONV_SMALL_WORDS)
SMALL_PAIRS, SMALL_WORDS = 20, 80


def _pairs(n: int) -> int:
    return (n // 4) * 2 + ((n % 4) + 1) // 2


def small_path(layer) -> bool:
    """Whether rp_conv.c takes its small-filter path for this layer."""
    kh, kw = layer.kernel
    pairs = kh * _pairs(kw * layer.in_shape[2])
    return pairs <= SMALL_PAIRS and pairs * layer.out_shape[2] <= SMALL_WORDS


def conv_cases(rng):
    """(layer, input) pairs; every shape family named in the module docstring."""
    specs = []  # (in_shape, cout, kernel, stride, pad, pad_values, bias)
    # the face detectors' small convs, a few rows of their real widths
    specs += [((5, 41, 3), 4, (3, 3), (2, 2), (1, 1), True, True),    # stem, camera input
              ((4, 40, 4), 4, (3, 3), (1, 1), (1, 1), False, True),   # stem, second conv
              ((5, 41, 4), 4, (3, 3), (2, 2), (1, 1), False, True),   # first head source
              ((3, 20, 4), 4, (3, 3), (1, 1), (1, 1), False, True),   # head loc
              ((3, 20, 4), 2, (3, 3), (1, 1), (1, 1), False, True),   # head conf
              ((3, 10, 16), 4, (3, 3), (1, 1), (1, 1), False, True),  # head on 16 channels
              ((3, 10, 16), 2, (3, 3), (1, 1), (1, 1), False, True)]
    for cin in (1, 2, 3, 4, 5, 8):
        for k, s, pad in ((1, 1, 0), (3, 1, 1), (3, 2, 1), (5, 1, 2), (5, 2, 1), (3, 2, 0)):
            w = int(rng.integers(1, 6)) * 2 + 1  # odd widths
            h = int(rng.integers(k, k + 4))
            cout = int(rng.choice([1, 2, 3, 4, 5, 6, 8]))
            specs.append(((h, w, cin), cout, (k, k), (s, s), (pad, pad), bool(rng.integers(2)),
                          bool(rng.integers(4))))
    specs += [((6, 9, 3), 3, (1, 3), (1, 2), (0, 1), True, True),   # non-square, mixed stride
              ((7, 5, 2), 7, (3, 1), (2, 1), (1, 0), False, False),
              ((6, 8, 4), 5, (3, 5), (1, 1), (1, 2), True, True),
              ((4, 3, 3), 4, (3, 3), (1, 1), (2, 2), True, True),   # padding 2 with a 3x3
              ((2, 2, 4), 4, (3, 3), (1, 1), (1, 1), False, True),  # map smaller than the kernel
              ((1, 7, 1), 1, (1, 1), (1, 1), (0, 0), False, True),
              ((5, 7, 20), 3, (3, 3), (2, 2), (1, 1), True, True)]
    out = []
    for i, (shape, cout, kernel, stride, pad, pad_values, bias) in enumerate(specs):
        layer = random_conv(rng, f'conv{i}', shape, cout, kernel, stride, pad,
                            act=[None, 'relu', 'relu6'][i % 3], pad_values=pad_values)
        if not bias:
            layer.bias = None
        if i in (1, 5, 9, len(specs) - 1):
            # rshift < 33 on some channels: rp_requantize's 64-bit rounding, one channel at a time
            layer.rshift[0] = 32
            layer.rshift[-1] = 31
        out.append((layer, rng.integers(-128, 128, layer.in_shape).astype(np.int8)))
    return out


def _program(rng):
    builder = ProgramBuilder()
    expected = []
    cases = conv_cases(rng)
    for layer, x in cases:
        y = ref.conv2d(layer, x)
        builder.add_layer_case(layer, [x], y.size)
        expected.append(y)
    kinds = {small_path(layer) for layer, _ in cases}
    assert kinds == {True, False}, 'the cases must exercise both paths'
    return builder.source(), expected


def _check(raw, expected):
    got = split_outputs(raw, [e.size for e in expected])
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        g = np.frombuffer(g, np.int8).reshape(e.shape)
        assert np.array_equal(g, e), f'case {i}: {int((g != e).sum())} of {e.size} differ'
    allv = np.concatenate([e.ravel() for e in expected])
    assert allv.min() == -128 and allv.max() == 127  # clamps exercised


@pytest.mark.parametrize('sanitize', [False, True])
def test_conv_host_bit_exact(tmp_path, sanitize):
    source, expected = _program(np.random.default_rng(7))
    _check(run_program(build_program(source, tmp_path, sanitize=sanitize)), expected)


def _run_m4(source, workdir, extra):
    out, dis = build_and_run_m4(source, workdir, extra, timeout=120)
    assert ('\tsmlad' in dis) == (not extra), 'the DSP build must use SMLAD, the other not'
    return out


def test_conv_m4_dsp_and_portable_bit_exact_in_qemu(tmp_path):
    reason = arm_toolchain_missing()
    if reason:
        pytest.skip(reason)
    source, expected = _program(np.random.default_rng(7))
    _check(_run_m4(source, tmp_path / 'dsp', []), expected)
    _check(_run_m4(source, tmp_path / 'portable', ['-DRP_NO_DSP']), expected)
