"""Runtime kernels (host gcc, -Wall -Wextra -Werror) against the integer reference, bit-exact.

Each kind of kernel gets several random shapes / parameters in one C program; the program
writes every output to stdout and the bytes must equal mcu_export.reference exactly. The same
programs also run under ASan/UBSan.
"""
import shutil

import numpy as np
import pytest

from mcu_export import reference as ref
from mcu_export.ctest import ProgramBuilder, build_program, run_program, split_outputs
from mcu_export.detect_tables import build_detect_level, score_to_q15
from mcu_export.ir import StreamSpec
from mcu_export.quantize import ActQuant
from mcu_export.random_model import (random_add, random_conv, random_l2norm, random_mbconv,
                                     random_rnnpool)

pytestmark = [pytest.mark.mcu,
              pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')]


def _image(rng, shape):
    return rng.integers(0, 256, shape).astype(np.int8)


def _conv_cases(rng):
    cases = []
    for i in range(8):
        h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        c = int(rng.integers(1, 9))
        kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        ph, pw = int(rng.integers(0, kh)), int(rng.integers(0, kw))
        if (h + 2 * ph - kh) < 0 or (w + 2 * pw - kw) < 0:
            ph, pw = kh, kw
        layer = random_conv(rng, f'conv{i}', (h, w, c), int(rng.integers(1, 9)), (kh, kw),
                            (sh, sw), (ph, pw), act=[None, 'relu', 'relu6'][i % 3],
                            pad_values=bool(i % 2))
        cases.append(layer)
    return cases


def _dw_cases(rng):
    cases = []
    for i in range(6):
        h, w, c = int(rng.integers(2, 12)), int(rng.integers(2, 12)), int(rng.integers(1, 17))
        k = int(rng.choice([1, 3, 5]))
        s = int(rng.integers(1, 3))
        cases.append(random_conv(rng, f'dw{i}', (h, w, c), 0, (k, k), (s, s), (k // 2, k // 2),
                                 depthwise=True, act='relu6' if i % 2 else None,
                                 pad_values=i == 3))
    return cases


def _pw_cases(rng):
    return [
        random_conv(rng, f'pw{i}', (int(rng.integers(1, 9)), int(rng.integers(1, 9)),
                                    int(rng.integers(1, 40))), int(rng.integers(1, 40)), (1, 1),
                    (1, 1), (0, 0), act='relu' if i % 2 else None) for i in range(6)
    ]


def _run(builder, sanitize, tmp_path):
    exe = build_program(builder.source(), tmp_path, sanitize=sanitize)
    return run_program(exe)


@pytest.mark.parametrize('sanitize', [False, pytest.param(True, marks=pytest.mark.slow)])
def test_conv_dw_pw_add_l2norm_bit_exact(tmp_path, sanitize):
    rng = np.random.default_rng(1234)
    builder = ProgramBuilder()
    expected = []
    for layer in _conv_cases(rng) + _dw_cases(rng) + _pw_cases(rng):
        x = _image(rng, layer.in_shape)
        y = ref.conv2d(layer, x)
        builder.add_layer_case(layer, [x], y.size)
        expected.append(y)
    for i in range(5):
        shape = (int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.integers(1, 20)))
        layer = random_add(rng, f'add{i}', shape, act='relu' if i == 2 else None)
        a, b = _image(rng, shape), _image(rng, shape)
        y = ref.add(layer, a, b)
        builder.add_layer_case(layer, [a, b], y.size)
        expected.append(y)
    for i in range(4):
        shape = (int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 70)))
        layer = random_l2norm(rng, f'l2n{i}', shape)
        x = _image(rng, shape)
        if i == 0:  # an all-zero-point pixel takes the S == 0 path
            x[0, 0, :] = -layer.input_offset
        y = ref.l2norm(layer, x)
        builder.add_layer_case(layer, [x], y.size)
        expected.append(y)
    raw = _run(builder, sanitize, tmp_path)
    got = split_outputs(raw, [e.size for e in expected])
    for i, (g, e) in enumerate(zip(got, expected)):
        g = np.frombuffer(g, np.int8).reshape(e.shape)
        assert np.array_equal(g, e), f'case {i}: {int((g != e).sum())} of {e.size} differ'
    # the outputs must exercise the whole range, or the test would not see clamp bugs
    allv = np.concatenate([e.ravel() for e in expected])
    assert allv.min() == -128 and allv.max() == 127


@pytest.mark.parametrize('sanitize', [False, pytest.param(True, marks=pytest.mark.slow)])
def test_mbconv_rnnpool_stream_bit_exact(tmp_path, sanitize):
    rng = np.random.default_rng(99)
    builder = ProgramBuilder()
    expected = []
    for i, (shape, out_c, t, s) in enumerate([((7, 9, 8), 8, 2, 1), ((8, 6, 8), 12, 3, 2),
                                              ((5, 5, 6), 6, 1, 1), ((9, 4, 4), 4, 4, 1)]):
        layer = random_mbconv(rng, f'mb{i}', shape, out_c, expand=t, stride=s)
        x = _image(rng, shape)
        y = ref.mbconv(layer, x)
        builder.add_layer_case(layer, [x], y.size, scratch=layer.scratch_bytes())
        expected.append((layer.scratch_bytes(), y))
    for i, (shape, h1, h2, patch, stride) in enumerate([((8, 8, 4), 4, 4, (8, 8), (4, 4)),
                                                        ((12, 16, 3), 8, 6, (8, 8), (4, 4)),
                                                        ((6, 9, 2), 5, 3, (4, 3), (2, 3)),
                                                        ((8, 12, 4), 16, 16, (8, 8), (4, 4))]):
        # the last two use sigmoid / tanh tables instead of quantSigmoid / quantTanh
        layer = random_rnnpool(rng, f'pool{i}', shape, h1, h2, patch, stride, tables=i >= 2)
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
    for i, (img_shape, with_pool) in enumerate([((20, 24, 3), True), ((9, 11, 1), False)]):
        stem = random_conv(rng, 'stem', img_shape, 4, (3, 3), (2, 2), (1, 1), act='relu',
                           pad_values=True)
        stem.input_offset = 128
        mid = random_conv(rng, 'mid', stem.out_shape, 4, (3, 3), (1, 1), (1, 1), depthwise=True)
        mid.input_offset = -stem.output_offset
        stages = [stem, mid]
        if with_pool:
            pool = random_rnnpool(rng, 'pool', mid.out_shape, 4, 4, (4, 4), (2, 2))
            pool.input_offset = -mid.output_offset
            stages.append(pool)
        spec = StreamSpec(img_shape, stages, 'map', pad_bottom=1, pad_right=int(with_pool))
        image = rng.integers(0, 256, img_shape).astype(np.uint8)
        y = ref.stream(spec, image)
        builder.add_stream_case(spec, image)
        expected.append((spec.scratch_bytes, y))
    raw = _run(builder, sanitize, tmp_path)
    got = split_outputs(raw, [4 + e.size for _, e in expected])
    for i, (g, (size, e)) in enumerate(zip(got, expected)):
        assert int(np.frombuffer(g[:4], np.uint32)[0]) == size, f'case {i}: buffer size query'
        g = np.frombuffer(g[4:], np.int8).reshape(e.shape)
        assert np.array_equal(g, e), f'case {i}: {int((g != e).sum())} of {e.size} differ'


def test_detect_bit_exact(tmp_path):
    rng = np.random.default_rng(7)
    builder = ProgramBuilder()
    expected = []
    for case in range(5):
        img_w, img_h = 64, 48
        levels, heads = [], {}
        names = []
        for lvl, stride in enumerate((8, 16)):
            h, w = img_h // stride, img_w // stride
            n = 2 if case % 2 == 0 else 4  # 4 logits: S3FD max-out background
            loc = rng.integers(-128, 128, (h, w, 4)).astype(np.int8)
            conf = rng.integers(-128, 128, (h, w, n)).astype(np.int8)
            if case == 3:  # many exactly tied scores exercise the candidate order
                conf[...] = conf[0, 0]
            lv = build_detect_level(f'l{lvl}', f'c{lvl}', ActQuant(0.03, int(rng.integers(-5, 5))),
                                    ActQuant(0.04, 0), 2.0 * stride, 1.5 * stride, stride,
                                    stride, fg_index=n - 1 if case == 1 else 0)
            if case == 4:  # anchors beyond the right edge: boxes empty after clipping
                lv.anchor_x0 = 16 * (img_w + 200)
                # every candidate's box lies right of the image, so none may come out
                assert not ref.detect_decode(lv, lvl, loc, conf, 0, img_w, img_h)
                lv.anchor_x0 = 16 * img_w
            levels.append(lv)
            heads[f'l{lvl}'], heads[f'c{lvl}'] = loc, conf
            names.append((loc, conf))
        from mcu_export.ir import DetectSpec
        spec = DetectSpec(levels, score_to_q15(0.3 + 0.1 * case), score_to_q15(0.3), 12, 6)
        dets = ref.detect(spec, heads, img_w, img_h)
        builder.add_detect_case(levels, names, spec.score_thr, spec.iou_thr, 12, 6, img_w, img_h)
        expected.append(dets)
    raw = _run(builder, False, tmp_path)
    off = 0
    total = 0
    for i, e in enumerate(expected):
        n = int(np.frombuffer(raw[off:off + 4], np.uint32)[0])
        g = np.frombuffer(raw[off + 4:off + 4 + 28 * n], np.int32).reshape(n, 7)
        off += 4 + 28 * n
        assert np.array_equal(g, e), f'case {i}:\nC {g}\nref {e}'
        total += n
    assert off == len(raw)
    assert total >= 8  # the cases produce detections, so the comparison means something


def test_requantize_fast_and_slow_paths_bit_exact(tmp_path):
    """rp_requantize's 32-bit fast path (rshift >= 33) and 64-bit path equal the reference."""
    rng = np.random.default_rng(5)
    n = 4000
    acc = np.concatenate([rng.integers(-2**31, 2**31, n // 2),
                          rng.integers(-5000, 5000, n // 2)]).astype(np.int64)
    acc[:4] = [-2**31, 2**31 - 1, 0, -1]
    mult = rng.integers(2**30, 2**31, n).astype(np.int64)
    rshift = rng.integers(1, 63, n).astype(np.int64)
    src = ['#include <stdio.h>', '#include "rp_internal.h"']
    from mcu_export.cemit import c_array
    src += c_array('acc', acc, np.int32) + c_array('mult', mult, np.int32)
    src += c_array('rsh', rshift, np.int8)
    src += ['int main(void)', '{', f'    for (int i = 0; i < {n}; i++) {{',
            '        int32_t v = rp_requantize(acc[i], mult[i], rsh[i]);',
            '        fwrite(&v, 4, 1, stdout);', '    }', '    return 0;', '}']
    got = np.frombuffer(run_program(build_program('\n'.join(src), tmp_path)), np.int32)
    assert np.array_equal(got, ref.requantize(acc, mult, rshift))
