"""The runtime's Cortex-M4 DSP path (SMLAD / SMLABB / SXTAB16) against the integer reference.

The kernel programs of :mod:`mcu_export.ctest` are built with arm-none-eabi-gcc for the
Cortex-M4F (``__ARM_FEATURE_DSP``), run in QEMU ``mps2-an386`` and their outputs must equal
:mod:`mcu_export.reference` byte for byte, as the portable path's do on the host
(``test_kernels.py``). The shapes exercise both the DSP blocks and their tails (channel counts
not a multiple of 4, odd pixel / output-channel counts, padded borders, odd hidden sizes).
"""

import numpy as np
import pytest

from mcu_export import reference as ref
from mcu_export.ctest import (ProgramBuilder, arm_toolchain_missing, build_and_run_m4,
                              split_outputs)
from mcu_export.ir import StreamSpec
from mcu_export.random_model import random_conv, random_l2norm, random_mbconv, random_rnnpool

pytestmark = pytest.mark.mcu

def _build_and_run_m4(source: str, workdir) -> bytes:
    """Builds a ctest program for mps2-an386 and returns what it wrote to stdout."""
    reason = arm_toolchain_missing()
    if reason:
        pytest.skip(reason)
    out, dis = build_and_run_m4(source, workdir, timeout=120)
    # the DSP path must really be in the binary, or this test would compare the portable one
    for insn in ('smlad', 'sxtab16', 'smlabb', 'vsqrt.f32'):
        assert f'\t{insn}' in dis, f'{insn} missing from the M4 build'
    return out


def _image(rng, shape):
    return rng.integers(0, 256, shape).astype(np.int8)


def test_dsp_kernels_bit_exact_in_qemu(tmp_path):
    rng = np.random.default_rng(4321)
    builder = ProgramBuilder()
    expected = []
    layers = []
    # regular convs: contiguous-row dot products with offsets, stem-like cin 3, padded borders
    for i, (shape, cout, k, s, pad_values) in enumerate([((9, 11, 3), 5, 3, 2, True),
                                                         ((7, 6, 8), 4, 3, 1, False),
                                                         ((6, 7, 13), 3, 1, 1, False),
                                                         ((5, 9, 16), 6, 3, 1, True)]):
        layers.append(random_conv(rng, f'conv{i}', shape, cout, (k, k), (s, s), (k // 2, k // 2),
                                  act='relu' if i % 2 else None, pad_values=pad_values))
    # depthwise: 4-channel groups + tails, strides, 5x5
    for i, (shape, k, s) in enumerate([((7, 9, 8), 3, 1), ((8, 8, 12), 3, 2), ((6, 10, 7), 3, 1),
                                       ((9, 9, 20), 5, 1), ((5, 6, 3), 3, 1)]):
        layers.append(random_conv(rng, f'dw{i}', shape, 0, (k, k), (s, s), (k // 2, k // 2),
                                  depthwise=True, act='relu6' if i % 2 else None,
                                  pad_values=i == 2))
    # pointwise: 2x2 blocks with odd pixel / channel tails and cin % 4 != 0
    for i, (shape, cout) in enumerate([((4, 6, 16), 8), ((3, 5, 13), 7), ((1, 1, 4), 1),
                                       ((5, 3, 64), 33)]):
        layers.append(random_conv(rng, f'pw{i}', shape, cout, (1, 1), (1, 1), (0, 0),
                                  act='relu' if i % 2 else None))
    for layer in layers:
        x = _image(rng, layer.in_shape)
        y = ref.conv2d(layer, x)
        builder.add_layer_case(layer, [x], y.size)
        expected.append((None, y))
    # L2Norm: the VSQRT estimate + integer correction over sums of squares from 1 to ~2^26
    # (1100 channels at the extremes), tiny sums, the S == 0 pixel
    for i, c in enumerate([1, 4, 16, 69, 1100]):
        layer = random_l2norm(rng, f'l2n{i}', (3, 4, c))
        x = _image(rng, layer.in_shape)
        zp = -layer.input_offset
        x[0, 0, :] = zp  # S == 0
        x[0, 1, :] = zp
        x[0, 1, 0] = zp + 1  # S == 1
        x[0, 2, :] = np.where(np.arange(c) % 2, -128, 127)  # the largest sums
        x[0, 3, :] = np.clip(zp + rng.integers(-2, 3, c), -128, 127)  # small sums
        y = ref.l2norm(layer, x)
        builder.add_layer_case(layer, [x], y.size)
        expected.append((None, y))
    for i, (shape, out_c, t, s) in enumerate([((7, 9, 8), 8, 2, 1), ((8, 6, 8), 12, 3, 2),
                                              ((5, 5, 6), 6, 1, 1)]):
        layer = random_mbconv(rng, f'mb{i}', shape, out_c, expand=t, stride=s)
        x = _image(rng, shape)
        y = ref.mbconv(layer, x)
        builder.add_layer_case(layer, [x], y.size, scratch=layer.scratch_bytes())
        expected.append((layer.scratch_bytes(), y))
    # RNNPool: hidden sizes with and without a tail of the pair layout, c = 4 and c = 3, tables
    for i, (shape, h1, h2, patch, stride, tables) in enumerate([
            ((8, 8, 4), 8, 8, (8, 8), (4, 4), False), ((12, 16, 3), 16, 16, (8, 8), (4, 4), True),
            ((6, 9, 5), 6, 5, (4, 3), (2, 3), False), ((8, 12, 4), 7, 9, (8, 8), (4, 4), True)]):
        layer = random_rnnpool(rng, f'pool{i}', shape, h1, h2, patch, stride, tables=tables)
        x = _image(rng, shape)
        y = ref.rnnpool(layer, x)
        builder.add_layer_case(layer, [x], y.size, scratch=layer.scratch_bytes())
        expected.append((layer.scratch_bytes(), y))
    for tables in (False, True):  # a unit with rshift < 33: the 64-bit requantisation branch
        layer = random_rnnpool(rng, 'pool_low_shift', (8, 12, 4), 8, 8, (8, 8), (4, 4),
                               tables=tables)
        layer.rnn1.u_rshift[3], layer.rnn2.w_rshift[5] = 32, 31
        x = _image(rng, layer.in_shape)
        y = ref.rnnpool(layer, x)
        builder.add_layer_case(layer, [x], y.size, scratch=layer.scratch_bytes())
        expected.append((layer.scratch_bytes(), y))
    img_shape = (20, 24, 3)
    stem = random_conv(rng, 'stem', img_shape, 4, (3, 3), (2, 2), (1, 1), act='relu',
                       pad_values=True)
    stem.input_offset = 128
    mid = random_conv(rng, 'mid', stem.out_shape, 4, (3, 3), (1, 1), (1, 1), depthwise=True)
    mid.input_offset = -stem.output_offset
    pool = random_rnnpool(rng, 'pool', mid.out_shape, 8, 8, (4, 4), (2, 2))
    pool.input_offset = -mid.output_offset
    spec = StreamSpec(img_shape, [stem, mid, pool], 'map', pad_bottom=1, pad_right=1)
    image = rng.integers(0, 256, img_shape).astype(np.uint8)
    builder.add_stream_case(spec, image)
    expected.append((spec.scratch_bytes, ref.stream(spec, image)))

    raw = _build_and_run_m4(builder.source(), tmp_path)
    sizes = [e.size + (0 if s is None else 4) for s, e in expected]
    got = split_outputs(raw, sizes)
    assert len(got) == len(expected)
    for i, (g, (size, e)) in enumerate(zip(got, expected)):
        if size is not None:
            assert int(np.frombuffer(g[:4], np.uint32)[0]) == size, f'case {i}: buffer size'
            g = g[4:]
        g = np.frombuffer(g, np.int8).reshape(e.shape)
        assert np.array_equal(g, e), f'case {i}: {int((g != e).sum())} of {e.size} differ'


def test_dsp_mbconv_min_scratch_and_in_place_in_qemu(tmp_path):
    """The chunked (minimum-scratch) and in-place block passes on the DSP path."""
    from test_streaming_planner import mbconv_min_scratch_program
    source, expected = mbconv_min_scratch_program(np.random.default_rng(21))
    assert _build_and_run_m4(source, tmp_path) == expected
