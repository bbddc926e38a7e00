"""Last-layer RNNPool (op ``rnnpool_last``, ``rp_rnnpool_last_s8*``) against its integer
reference, bit-exact.

The reference computes the streamed way (row sequences as rows arrive, column states advanced
one step per row) and must equal the RNNPool op's reference with one patch = the whole map. The
C kernel is fed row by row from separate row buffers (as a stream sink is) and through the
whole-map call; its buffer query must equal ``scratch_bytes``; short / misaligned buffers, rows
out of order, a row before ``begin`` and an ``end`` before the last row are refused. Shapes: the
Visual Wake Words model's 7 x 7 x 320 with h1 = h2 = 80 (and its 96 px 3 x 3 map), odd sizes,
one-row and one-column maps, table cells and cells on the general path, cell plans with and
without the unpacked weights. Host (portable C, also under ASan / UBSan) and QEMU (Cortex-M4,
DSP).
"""
import dataclasses
import shutil

import numpy as np
import pytest

from mcu_export.ctest import (PROLOGUE, arm_toolchain_missing, build_and_run_m4, build_program,
                              run_program, split_outputs)
from mcu_export.ops import get_op
from mcu_export.ops.base import align4, c_array
from mcu_export.ops.rnnpool import FastGRNNCell, RNNPoolLayer
from mcu_export.ops.rnnpool_last import LAST_MAX_CHANNELS, LAST_MAX_HIDDEN, RNNPoolLastLayer
from mcu_export.quantize import quantize_multipliers
from mcu_export.random_model import random_cell, random_rnnpool

pytestmark = pytest.mark.mcu


def _cell(rng, input_size, hidden, scale, tables):
    c = random_cell(rng, input_size, hidden, scale, tables)
    return FastGRNNCell(**{f.name: getattr(c, f.name) for f in dataclasses.fields(c)})


def random_last(rng, name, in_shape, h1, h2, tables=False) -> RNNPoolLastLayer:
    om, osh = quantize_multipliers([1.0 / (16384 * 0.01)])
    return RNNPoolLastLayer(
        name=name, in_shape=tuple(in_shape), input_offset=int(rng.integers(-127, 129)),
        rnn1=_cell(rng, in_shape[2], h1, 0.05 / 64, tables),
        rnn2=_cell(rng, h1, h2, 0.5 / 16384, tables), output_multiplier=int(om[0]),
        output_rshift=int(osh[0]), output_offset=int(rng.integers(-20, 20)))


def last_cases(rng, small: bool = False):
    specs = [  # in_shape, h1, h2, tables, unpacked weights in the plan (DSP)
        ((7, 7, 320), 80, 80, False, False),  # VWW MobileNetV2-0.35x at 224 px
        ((3, 3, 320), 80, 80, True, False),   # the same at 96 px, table cells
        ((5, 9, 12), 8, 6, False, True),      # odd sizes, h1 != h2
        ((1, 6, 4), 4, 4, True, True),        # one row
        ((6, 1, 5), 7, 9, False, False),      # one column, odd hidden sizes (row tails)
    ]
    if small:
        specs = [specs[0], specs[2], specs[4]]
    layers = []
    for i, (shape, h1, h2, tables, unpack) in enumerate(specs):
        layers.append(random_last(rng, f'last{i}', shape, h1, h2, tables))
        layers[-1].unpack_weights = unpack
    if not small:  # general path: a U shift < 33, a W shift < 33, a huge bias
        layer = random_last(rng, 'general', (4, 5, 8), 8, 8)
        layer.rnn1.u_rshift[3], layer.rnn2.w_rshift[5] = 32, 31
        layer.rnn2.bias_update[2] = 1 << 29
        layers.append(layer)
    return [(layer, rng.integers(-128, 128, layer.in_shape).astype(np.int8)) for layer in layers]


def test_registered_as_rnnpool_last():
    assert get_op('rnnpool_last') is RNNPoolLastLayer
    layer = random_last(np.random.default_rng(0), 'vww_pool', (7, 7, 320), 80, 80)
    assert layer.out_shape == (1, 1, 320) and layer.streamable
    assert layer.row_window() == (1, 1)


def test_reference_is_rnnpool_with_the_whole_map_as_patch():
    for layer, x in last_cases(np.random.default_rng(1)):
        got = layer.reference([x])
        whole = layer.as_rnnpool().reference([x])
        assert got.shape == (1, 1, 4 * layer.rnn2.hidden_size) == whole.shape
        assert np.array_equal(got, whole), layer.name
        assert len(np.unique(got)) > 2, f'{layer.name}: degenerate output'


def test_validate_names_the_layer():
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match='layer big: hidden size 300'):
        random_last(rng, 'big', (2, 2, 4), 300, 8).validate()
    with pytest.raises(ValueError, match='layer wide: 2000 channels'):
        random_last(rng, 'wide', (1, 1, 2000), 8, 8).validate()
    random_last(rng, 'vww', (7, 7, 320), 80, 80).validate()


@pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
def test_limits_are_the_headers(tmp_path):
    source = PROLOGUE + ('int main(void)\n{\n    check(RP_OK, "none");\n'
                         '    emit_u32(RP_RNNPOOL_LAST_MAX_HIDDEN);\n'
                         '    emit_u32(RP_RNNPOOL_LAST_MAX_CHANNELS);\n    return 0;\n}\n')
    got = np.frombuffer(run_program(build_program(source, tmp_path)), np.uint32).tolist()
    assert got == [LAST_MAX_HIDDEN, LAST_MAX_CHANNELS]


def last_program(cases) -> str:
    """Per case: buffer query (u32), the streamed output (rows from separate buffers), the
    whole-map output, then the refusals (one u32 bit mask, all set when every one refused)."""
    decls, body = [], []
    for k, (layer, x) in enumerate(cases):
        p = f'k{k}'
        lines, ident = layer.emit(p)
        h, w, c = layer.in_shape
        n = layer.out_shape[2]
        words = layer.scratch_bytes() // 4 + 2
        decls += lines + c_array(f'{p}_in', x, np.int8)
        decls += [f'static int8_t {p}_out[{n}];', f'static uint32_t {p}_buf[{words}];',
                  f'static int8_t {p}_row[{w * c}];']
        body += [
            '{',
            f'    const rp_rnnpool_layer *l = &{ident};',
            '    const size_t size = rp_rnnpool_last_get_buffer_size(l);',
            '    uint32_t refused = 0;',
            '    emit_u32((uint32_t)size);',
            f'    check(rp_rnnpool_last_s8_begin(l, {p}_buf, size), "begin");',
            f'    for (int32_t y = 0; y < {h}; y++) {{',
            f'        memcpy({p}_row, {p}_in + (size_t)y * {w * c}, {w * c});',
            f'        check(rp_rnnpool_last_s8_row(l, {p}_buf, size, y, {p}_row), "row");',
            f'        memset({p}_row, 0x5a, {w * c});',
            '    }',
            f'    check(rp_rnnpool_last_s8_end(l, {p}_buf, size, {p}_out), "end");',
            f'    emit({p}_out, {n});',
            f'    memset({p}_out, 0, {n});',
            f'    check(rp_rnnpool_last_s8(l, {p}_buf, size, {p}_in, {p}_out), "whole");',
            f'    emit({p}_out, {n});',
            f'    refused |= (rp_rnnpool_last_s8(l, {p}_buf, size - 1, {p}_in, {p}_out) == '
            'RP_ARG_ERROR) << 0;',
            f'    refused |= (rp_rnnpool_last_s8(l, (uint8_t *){p}_buf + 2, size, {p}_in, '
            f'{p}_out) == RP_ARG_ERROR) << 1;',
            f'    refused |= (rp_rnnpool_last_s8_row(l, {p}_buf, size, 0, {p}_in) == '
            'RP_ARG_ERROR) << 2; /* ended: not begun */',
            f'    check(rp_rnnpool_last_s8_begin(l, {p}_buf, size), "begin 2");',
            f'    refused |= (rp_rnnpool_last_s8_row(l, {p}_buf, size, 1, {p}_in) == '
            'RP_ARG_ERROR) << 3; /* out of order */',
            f'    refused |= (rp_rnnpool_last_s8_end(l, {p}_buf, size, {p}_out) == '
            'RP_ARG_ERROR) << 4; /* rows missing */',
            f'    refused |= (rp_rnnpool_last_s8(l, NULL, size, {p}_in, {p}_out) == '
            'RP_ARG_ERROR) << 5;',
            f'    refused |= (rp_rnnpool_last_s8_row(l, {p}_buf, size, 0, NULL) == '
            'RP_ARG_ERROR) << 6;',
            '    emit_u32(refused);',
            '}',
        ]
    return (PROLOGUE + '\n'.join(decls) + '\n\nint main(void)\n{\n' +
            '\n'.join('    ' + line for line in body) + '\n    return 0;\n}\n')


def check_outputs(raw: bytes, cases) -> None:
    sizes = []
    for layer, _ in cases:
        sizes += [4, layer.out_shape[2], layer.out_shape[2], 4]
    got = split_outputs(raw, sizes)
    for k, (layer, x) in enumerate(cases):
        assert int(np.frombuffer(got[4 * k], np.uint32)[0]) == layer.scratch_bytes(), \
            f'case {k} ({layer.name}): rp_rnnpool_last_get_buffer_size'
        expected = layer.reference([x]).reshape(-1)
        for j, how in ((1, 'row by row'), (2, 'whole map')):
            g = np.frombuffer(got[4 * k + j], np.int8)
            assert np.array_equal(g, expected), \
                f'case {k} ({layer.name}, {how}): {int((g != expected).sum())} differ'
        assert int(np.frombuffer(got[4 * k + 3], np.uint32)[0]) == 0x7f, \
            f'case {k}: refusals {int(np.frombuffer(got[4 * k + 3], np.uint32)[0]):#x}'


@pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
@pytest.mark.parametrize('sanitize', [False, pytest.param(True, marks=pytest.mark.slow)])
def test_rnnpool_last_host_bit_exact(tmp_path, sanitize):
    cases = last_cases(np.random.default_rng(3))
    check_outputs(run_program(build_program(last_program(cases), tmp_path,
                                            sanitize=sanitize)), cases)


def test_rnnpool_last_qemu_bit_exact(tmp_path):
    reason = arm_toolchain_missing()
    if reason:
        pytest.skip(reason)
    cases = last_cases(np.random.default_rng(4), small=True)
    out, dis = build_and_run_m4(last_program(cases), tmp_path)
    assert '\tsmlad' in dis and 'matvec_packed' in dis, \
        'the Cortex-M4 build must take the DSP path, with and without unpacked weights'
    check_outputs(out, cases)


def stream_program(pool: RNNPoolLayer, last: RNNPoolLastLayer, image: np.ndarray,
                   pad: int) -> str:
    """camera -> RNNPool (patch stage, output replicate-padded by ``pad``) -> rnnpool_last sink
    (the stream's output stage): [stream buffer query u32] + the 1 x 1 x 4 h2 output."""
    h, w, c = image.shape
    pool_lines, pool_ident = pool.emit('sp')
    last_lines, last_ident = last.emit('sl')
    n = last.out_shape[2]
    words = (pool.ring_bytes() + last.ring_bytes() + pool.scratch_bytes()) // 4 + 1
    decls = pool_lines + last_lines + c_array('img', image, np.uint8) + [
        'static const rp_stream_stage stages[2] = {',
        f'    {pool.c_stage(pool_ident, -1)},',
        f'    {last.c_stage(last_ident, 0)},',
        '};',
        f'static const rp_stream stream = {{.image_h = {h}, .image_w = {w}, .image_c = {c}, '
        f'.num_stages = 2, .stages = stages, .output_stage = 1, .pad_bottom = {pad}, '
        f'.pad_right = {pad}, .pad_stage = 0}};',
        'static int read_rows(void *user, uint8_t *dst, int32_t row0, int32_t nrows)', '{',
        '    (void)user;',
        f'    if (row0 < 0 || row0 + nrows > {h}) {{ return -1; }}',
        f'    memcpy(dst, img + (size_t)row0 * {w * c}, (size_t)nrows * {w * c});',
        '    return 0;', '}',
        f'static int8_t out[{n}];', f'static uint32_t buf[{words}];']
    body = ['emit_u32((uint32_t)rp_stream_get_buffer_size(&stream));',
            'check(rp_stream_run(&stream, buf, sizeof buf, read_rows, NULL, NULL, out), "run");',
            f'emit(out, {n});']
    return (PROLOGUE + '\n'.join(decls) + '\n\nint main(void)\n{\n' +
            '\n'.join('    ' + line for line in body) + '\n    return 0;\n}\n')


def _as_op(layer) -> RNNPoolLayer:
    kw = {f.name: getattr(layer, f.name) for f in dataclasses.fields(layer)}
    for key in ('rnn1', 'rnn2'):
        kw[key] = FastGRNNCell(**{f.name: getattr(kw[key], f.name)
                                  for f in dataclasses.fields(kw[key])})
    return RNNPoolLayer(**kw)


@pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
@pytest.mark.parametrize('pad', [0, 1])
def test_rnnpool_last_as_a_stream_sink(tmp_path, pad):
    """In rp_stream the sink takes each RNNPool output row as it is produced (a one-row ring and
    its own state, as the op's ring_bytes says) and writes the stream's output after the last."""
    rng = np.random.default_rng(9)
    pool = _as_op(random_rnnpool(rng, 'pool', (20, 20, 3), 8, 4, (4, 4), (2, 2)))
    pool.row_cache = False
    oh, ow, oc = pool.out_shape
    last = random_last(rng, 'last', (oh + pad, ow + pad, oc), 8, 6)
    image = rng.integers(0, 256, (20, 20, 3)).astype(np.uint8)
    raw = run_program(build_program(stream_program(pool, last, image, pad), tmp_path))
    size, out = split_outputs(raw, [4, last.out_shape[2]])
    assert int(np.frombuffer(size, np.uint32)[0]) == \
        pool.ring_bytes() + last.ring_bytes() + align4(pool.scratch_bytes())
    x = pool.reference([(image.astype(np.int16) - 128).astype(np.int8)])
    x = np.pad(x, ((0, pad), (0, pad), (0, 0)), mode='edge')
    assert np.array_equal(np.frombuffer(out, np.int8), last.reference([x]).reshape(-1))
