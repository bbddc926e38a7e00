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
``-DRP_NO_DSP``). The cell plans are the exporter's (``rnnpool_plan.py``, const data): they must
take the paths and give the bytes of the plans the kernel builds itself under
``-DRP_RNNPOOL_SCRATCH_PLAN`` (the pre-export way), whose buffer is larger by exactly the plan
bytes; a layer without its plan is refused.
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
from mcu_export.rnnpool_plan import (CELL_FAST, CELL_TABLES, CELL_W_FAST, plan_layer,
                                     plan_scratch_bytes, scratch_plan_bytes)

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


def path_report_program(cases, with_outputs: bool = False) -> str:
    """C program (built with -DRP_DEBUG_PATHS): per case, one rp_rnnpool_s8 call, then the
    kernel's own report of the paths it planned (2 cells x 4 int32 flags); with_outputs,
    then the output map and the buffer size query (u32). The buffers are large enough for a
    -DRP_RNNPOOL_SCRATCH_PLAN build too (plans in the scratch)."""
    decls, body = [], []
    for k, (layer, x) in enumerate(cases):
        p = f'k{k}'
        lines, ident = emit_layer(layer, p)
        n = int(np.prod(layer.out_shape))
        decls += lines + c_array(f'{p}_in', x, np.int8)
        decls += [f'static int8_t {p}_out[{n}];',
                  f'static uint32_t {p}_buf[{scratch_plan_bytes(layer) // 4 + 2}];']
        body += [f'memset(rp_rnnpool_last_paths, 0xff, sizeof rp_rnnpool_last_paths);',
                 f'check(rp_rnnpool_s8(&{ident}, {p}_buf, rp_rnnpool_get_buffer_size(&{ident}), '
                 f'{p}_in, {p}_out), "{p}");',
                 'emit(rp_rnnpool_last_paths, sizeof rp_rnnpool_last_paths);']
        if with_outputs:
            body += [f'emit({p}_out, {n});',
                     f'emit_u32((uint32_t)rp_rnnpool_get_buffer_size(&{ident}));']
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
def test_export_time_plans_match_the_kernels_own(tmp_path):
    """The plans rnnpool_plan.py computes (flash) take the same paths as the ones the kernel
    builds in its scratch (-DRP_RNNPOOL_SCRATCH_PLAN, the pre-export way) and give the same
    outputs, equal to the reference; the flash plans need plan_bytes less scratch, and the
    flags the Python plan chose are the ones the kernel reports."""
    cases = rnnpool_cases(np.random.default_rng(7))
    source = path_report_program(cases, with_outputs=True)
    runs = {}
    for name, flags in (('flash', ['-DRP_DEBUG_PATHS']),
                        ('scratch', ['-DRP_DEBUG_PATHS', '-DRP_RNNPOOL_SCRATCH_PLAN'])):
        raw = run_program(build_program(source, tmp_path / name, extra_flags=flags))
        sizes = []
        for layer, _ in cases:
            sizes += [32, int(np.prod(layer.out_shape)), 4]
        runs[name] = split_outputs(raw, sizes)
    for k, (layer, x) in enumerate(cases):
        paths = {name: np.frombuffer(got[3 * k], np.int32).reshape(2, 4)
                 for name, got in runs.items()}
        assert np.array_equal(paths['flash'], paths['scratch']), f'case {k}: paths differ'
        plans = plan_layer(layer, pair_layout=False)
        for c, cell in enumerate(('rnn1', 'rnn2')):
            f = plans[cell].flags
            assert paths['flash'][c].tolist() == [int(bool(f & CELL_FAST)),
                                                  int(bool(f & CELL_W_FAST)), 0,
                                                  int(bool(f & CELL_TABLES))], f'case {k} {cell}'
        expected = ref.rnnpool(layer, x)
        for name, got in runs.items():
            out = np.frombuffer(got[3 * k + 1], np.int8).reshape(expected.shape)
            assert np.array_equal(out, expected), f'case {k} ({name} plan)'
        flash_size = int(np.frombuffer(runs['flash'][3 * k + 2], np.uint32)[0])
        scratch_size = int(np.frombuffer(runs['scratch'][3 * k + 2], np.uint32)[0])
        assert flash_size == layer.scratch_bytes()
        assert scratch_size == scratch_plan_bytes(layer) == flash_size + plan_scratch_bytes(layer)


@pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
def test_a_layer_without_its_plan_is_rejected(tmp_path):
    """Without -DRP_RNNPOOL_SCRATCH_PLAN the plan is required (NULL or emitted for the other
    layout: RP_ARG_ERROR, never a silent wrong path)."""
    layer, x = rnnpool_cases(np.random.default_rng(8), small=True)[0]
    lines, ident = emit_layer(layer, 'k0')
    n = int(np.prod(layer.out_shape))
    source = PROLOGUE + '\n'.join(lines + c_array('k0_in', x, np.int8) + [
        f'static int8_t k0_out[{n}];',
        f'static uint32_t k0_buf[{layer.scratch_bytes() // 4 + 2}];',
        'int main(void)', '{',
        f'    rp_rnnpool_layer l = {ident};',
        '    rp_rnnpool_plan other = *l.plan;',
        '    check(rp_rnnpool_s8(&l, k0_buf, sizeof k0_buf, k0_in, k0_out), "with plan");',
        '    l.plan = NULL;',
        '    check(rp_rnnpool_s8(&l, k0_buf, sizeof k0_buf, k0_in, k0_out) == RP_ARG_ERROR ? '
        'RP_OK : RP_ARG_ERROR, "NULL plan");',
        '    other.pair_layout = !other.pair_layout;',
        '    l.plan = &other;',
        '    check(rp_rnnpool_s8(&l, k0_buf, sizeof k0_buf, k0_in, k0_out) == RP_ARG_ERROR ? '
        'RP_OK : RP_ARG_ERROR, "other layout");',
        '    emit_u32(1u);', '    return 0;', '}']) + '\n'
    raw = run_program(build_program(source, tmp_path))
    assert np.frombuffer(raw, np.uint32).tolist() == [1]


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
