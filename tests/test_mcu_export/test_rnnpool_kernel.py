"""RNNPool kernel (``rp_rnnpool.c``) against the integer reference, bit-exact.

Every case runs the kernel four ways and each output must equal ``reference.rnnpool``: the
whole map with the full buffer (row cache across patch rows), with the minimum buffer (no
cache), row by row through ``rp_rnnpool_s8_row_at`` in an order that breaks the cache's chain
once (the kernel must notice and recompute), and row by row through the stateless
``rp_rnnpool_s8_row``. The buffer-size queries must equal ``RNNPoolLayer.scratch_bytes`` (and
that minus the cache); a short or misaligned buffer is rejected. Shapes: the two exported
models' cells, stride = patch (no overlap), odd sizes with stride < patch / 2, one output
column, stride > patch / 2, one-row patches, the release's cell (fixed factors 1 and 0,
biases 1), and cells that must take the general path (a shift < 33, a huge bias). Host
(portable C, also under ASan/UBSan) and QEMU (Cortex-M4 with the DSP path and with
``-DRP_NO_DSP``).
"""
import shutil

import numpy as np
import pytest

from mcu_export import reference as ref
from mcu_export.cemit import c_array, emit_layer
from mcu_export.ctest import (PROLOGUE, arm_toolchain_missing, build_and_run_m4,
                              build_program, run_program, split_outputs)
from mcu_export.ir import FastGRNNCell, RNNPoolLayer
from mcu_export.random_model import random_rnnpool

pytestmark = pytest.mark.mcu



def _cache_bytes(layer: RNNPoolLayer) -> int:
    return 2 * layer.out_shape[1] * max(layer.patch[0] - layer.stride[0], 0) * \
        layer.rnn1.hidden_size


def rnnpool_cases(rng, small: bool = False):
    """(layer, input) pairs; small: the fast QEMU subset."""
    specs = [  # in_shape, h1, h2, patch, stride, tables
        ((20, 28, 4), 8, 8, (8, 8), (4, 4), False),     # Face-Quant's cell, 4 patch rows
        ((16, 24, 4), 16, 16, (8, 8), (4, 4), True),    # Face-M4's cell
        ((16, 16, 3), 5, 3, (8, 8), (8, 8), False),     # stride = patch: no overlap
        ((13, 11, 5), 7, 9, (5, 3), (2, 2), True),      # odd sizes, overlap > stride
        ((12, 6, 2), 6, 4, (4, 6), (2, 3), False),      # one output column
        ((15, 15, 4), 8, 6, (6, 6), (4, 5), True),      # stride > patch / 2
        ((5, 9, 3), 4, 4, (1, 4), (1, 2), False),       # one-row patches
    ]
    if small:
        specs = [specs[0], specs[1], specs[3]]
    cases = []
    for i, (shape, h1, h2, patch, stride, tables) in enumerate(specs):
        layer = random_rnnpool(rng, f'pool{i}', shape, h1, h2, patch, stride, tables=tables)
        cases.append(layer)
    for tables in (False, True):  # the release's cell: sigmoid(zeta) = 1, sigmoid(nu) = 0
        layer = random_rnnpool(rng, f'release{int(tables)}', (16, 20, 4), 8, 8, (8, 8), (4, 4),
                               tables=tables)
        for cell in (layer.rnn1, layer.rnn2):
            cell.zeta_q14, cell.nu_q14 = 1 << 14, 0  # what the exporter gives for them
            cell.bias_gate[:] = cell.bias_update[:] = 1 << 14  # biases at their init, 1
        cases.append(layer)
    for tables in (False, True):  # general path: a U shift < 33 / a W shift < 33
        layer = random_rnnpool(rng, f'low{int(tables)}', (12, 12, 4), 8, 8, (8, 8), (4, 4),
                               tables=tables)
        layer.rnn1.u_rshift[3], layer.rnn2.w_rshift[5] = 32, 31
        cases.append(layer)
    if not small:  # general path: a bias beyond the fast path's bound
        layer = random_rnnpool(rng, 'bias', (12, 12, 4), 8, 8, (8, 8), (4, 4))
        layer.rnn2.bias_update[2] = 1 << 29
        cases.append(layer)
    return [(layer, rng.integers(-128, 128, layer.in_shape).astype(np.int8)) for layer in cases]


def rnnpool_program(cases):
    """C program: per case [full size u32, min size u32] + four output maps."""
    decls, body = [], []
    for k, (layer, x) in enumerate(cases):
        p = f'k{k}'
        lines, ident = emit_layer(layer, p)
        oh, ow, oc = layer.out_shape
        n = oh * ow * oc
        words = layer.scratch_bytes() // 4 + 2
        decls += lines + c_array(f'{p}_in', x, np.int8)
        decls += [f'static int8_t {p}_out[{n}];', f'static uint32_t {p}_buf[{words}];']
        order = [0, 1, oh - 1] + list(range(2, oh)) if oh > 2 else list(range(oh))
        row = layer.in_shape[1] * layer.in_shape[2]
        body += [
            '{',
            f'    const rp_rnnpool_layer *l = &{ident};',
            '    const size_t full = rp_rnnpool_get_buffer_size(l);',
            '    const size_t minb = rp_rnnpool_get_min_buffer_size(l);',
            '    const int8_t *rows[RP_MAX_KERNEL];',
            f'    static const int32_t order[] = {{{", ".join(map(str, order))}}};',
            '    emit_u32((uint32_t)full);', '    emit_u32((uint32_t)minb);',
            f'    check(rp_rnnpool_s8(l, {p}_buf, minb - 1, {p}_in, {p}_out) == RP_ARG_ERROR ? '
            'RP_OK : RP_NO_IMPL, "short buffer rejected");',
            f'    check(rp_rnnpool_s8(l, (uint8_t *){p}_buf + 2, full, {p}_in, {p}_out) == '
            'RP_ARG_ERROR ? RP_OK : RP_NO_IMPL, "misaligned buffer rejected");',
            f'    check(rp_rnnpool_s8(l, {p}_buf, full, {p}_in, {p}_out), "full");',
            f'    emit({p}_out, {n});',
            f'    memset({p}_out, 0, {n});',
            f'    check(rp_rnnpool_s8(l, {p}_buf, minb, {p}_in, {p}_out), "min");',
            f'    emit({p}_out, {n});',
            f'    memset({p}_out, 0, {n});',
            f'    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {{',
            '        const int32_t py = order[k];',
            f'        for (int32_t r = 0; r < {layer.patch[0]}; r++) {{',
            f'            rows[r] = {p}_in + (size_t)(py * {layer.stride[0]} + r) * {row};',
            '        }',
            f'        check(rp_rnnpool_s8_row_at(l, {p}_buf, full, rows, py, {p}_out + '
            f'(size_t)py * {ow * oc}), "row_at");',
            '    }',
            f'    emit({p}_out, {n});',
            f'    memset({p}_out, 0, {n});',
            f'    for (int32_t py = 0; py < {oh}; py++) {{',
            f'        for (int32_t r = 0; r < {layer.patch[0]}; r++) {{',
            f'            rows[r] = {p}_in + (size_t)(py * {layer.stride[0]} + r) * {row};',
            '        }',
            f'        check(rp_rnnpool_s8_row(l, {p}_buf, full, rows, {p}_out + '
            f'(size_t)py * {ow * oc}), "row");',
            '    }',
            f'    emit({p}_out, {n});',
            '}',
        ]
    return (PROLOGUE + '\n'.join(decls) + '\n\nint main(void)\n{\n' +
            '\n'.join('    ' + line for line in body) + '\n    return 0;\n}\n')


def check_outputs(raw: bytes, cases) -> None:
    sizes = []
    for layer, _ in cases:
        n = int(np.prod(layer.out_shape))
        sizes += [8, n, n, n, n]
    got = split_outputs(raw, sizes)
    for k, (layer, x) in enumerate(cases):
        sizes = np.frombuffer(got[5 * k], np.uint32)
        assert int(sizes[0]) == layer.scratch_bytes(), f'case {k}: rp_rnnpool_get_buffer_size'
        assert int(sizes[1]) == layer.scratch_bytes() - _cache_bytes(layer), \
            f'case {k}: rp_rnnpool_get_min_buffer_size'
        expected = ref.rnnpool(layer, x)
        for j, how in enumerate(('row cache', 'minimum buffer', 'row_at, broken chain',
                                 'stateless rows')):
            g = np.frombuffer(got[5 * k + 1 + j], np.int8).reshape(expected.shape)
            assert np.array_equal(g, expected), \
                f'case {k} ({layer.name}, {how}): {int((g != expected).sum())} differ'


def path_report_program(cases) -> str:
    """C program (built with -DRP_DEBUG_PATHS): per case, one rp_rnnpool_s8 call, then the
    kernel's own report of the paths it planned (2 cells x 4 int32 flags)."""
    decls, body = [], []
    for k, (layer, x) in enumerate(cases):
        p = f'k{k}'
        lines, ident = emit_layer(layer, p)
        decls += lines + c_array(f'{p}_in', x, np.int8)
        decls += [f'static int8_t {p}_out[{int(np.prod(layer.out_shape))}];',
                  f'static uint32_t {p}_buf[{layer.scratch_bytes() // 4 + 2}];']
        body += [f'memset(rp_rnnpool_last_paths, 0xff, sizeof rp_rnnpool_last_paths);',
                 f'check(rp_rnnpool_s8(&{ident}, {p}_buf, rp_rnnpool_get_buffer_size(&{ident}), '
                 f'{p}_in, {p}_out), "{p}");',
                 'emit(rp_rnnpool_last_paths, sizeof rp_rnnpool_last_paths);']
    return (PROLOGUE + '\n'.join(decls) + '\n\nint main(void)\n{\n' +
            '\n'.join('    ' + line for line in body) + '\n    return 0;\n}\n')


def c_paths(raw: bytes, count: int) -> np.ndarray:
    """``(cases, cell, flag)`` with flags [fast_gates, w_fast, pairs, tables] (rp_nn.h)."""
    paths = np.frombuffer(raw, np.int32).reshape(count, 2, 4)
    assert set(np.unique(paths)) <= {0, 1}, 'every case must have set its report'
    return paths


@pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
def test_cases_cover_fast_and_general_paths(tmp_path):
    """Which gates each case runs, as the C reports it (a debug build), not as a Python copy
    of its decision predicts it."""
    cases = rnnpool_cases(np.random.default_rng(5))
    exe = build_program(path_report_program(cases), tmp_path, extra_flags=['-DRP_DEBUG_PATHS'])
    paths = c_paths(run_program(exe), len(cases))
    fast = paths[:, :, 0].all(axis=1)
    assert fast[:9].all(), \
        f'the shape and release cases must run the branch-free gates: {fast.tolist()}'
    assert not fast[9:].any(), f'the last cases must run the general path: {fast.tolist()}'
    assert paths[:9, :, 1].any(), 'some case must requantise W . x on the 32-bit path'
    tables = [bool(layer.rnn1.sigmoid_table is not None) for layer, _ in cases]
    assert paths[:, 0, 3].astype(bool).tolist() == tables
    assert not paths[:, :, 2].any(), 'the host build has no DSP pair path'


@pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
@pytest.mark.parametrize('sanitize', [False, pytest.param(True, marks=pytest.mark.slow)])
def test_rnnpool_host_bit_exact(tmp_path, sanitize):
    cases = rnnpool_cases(np.random.default_rng(5))
    exe = build_program(rnnpool_program(cases), tmp_path, sanitize=sanitize)
    check_outputs(run_program(exe), cases)


def _run_m4(source: str, workdir, extra) -> bytes:
    out, dis = build_and_run_m4(source, workdir, extra)
    has_dsp = '\tsmlad' in dis
    assert has_dsp == ('-DRP_NO_DSP' not in extra), 'DSP path present iff not RP_NO_DSP'
    return out


@pytest.mark.parametrize('extra', [[], ['-DRP_NO_DSP']], ids=['dsp', 'portable'])
def test_rnnpool_qemu_bit_exact(tmp_path, extra):
    reason = arm_toolchain_missing()
    if reason:
        pytest.skip(reason)
    cases = rnnpool_cases(np.random.default_rng(6), small=True)
    check_outputs(_run_m4(rnnpool_program(cases), tmp_path, extra), cases)


def test_qemu_dsp_build_reports_the_pair_path(tmp_path):
    """On the Cortex-M4 (DSP build) the quant cells of even width take the two-units-at-a-time
    gates and the table cells do not, as the kernel itself reports (-DRP_DEBUG_PATHS); the
    portable build never does."""
    reason = arm_toolchain_missing()
    if reason:
        pytest.skip(reason)
    cases = rnnpool_cases(np.random.default_rng(6), small=True)
    source = path_report_program(cases)
    dsp = c_paths(build_and_run_m4(source, tmp_path / 'dsp', ['-DRP_DEBUG_PATHS'])[0],
                  len(cases))
    portable = c_paths(build_and_run_m4(source, tmp_path / 'portable',
                                        ['-DRP_DEBUG_PATHS', '-DRP_NO_DSP'])[0], len(cases))
    assert not portable[:, :, 2].any()
    assert dsp[0, :, 2].all(), 'Face-Quant\'s cell (quant, even widths) takes the pair path'
    assert not dsp[:, :, 2][dsp[:, :, 3] == 1].any(), 'table cells never take it'
    assert (dsp[:, :, [0, 1, 3]] == portable[:, :, [0, 1, 3]]).all()
