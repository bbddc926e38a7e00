"""Classifier kernels (rp_gap.c, rp_fc.c, rp_classify.c) against the ops' integer references.

Host gcc (portable path, -Wall -Wextra -Werror) and the Cortex-M4F build in QEMU (DSP path:
SXTAB16 / SMLAD must be in the binary) must both give the reference's bytes exactly; the
streamed GAP (rows added one by one) must equal the whole-map one.
"""
import shutil

import numpy as np
import pytest

from mcu_export.ctest import (arm_toolchain_missing, build_and_run_m4, build_program,
                              run_program, split_outputs)

from cls_cases import cls_program

pytestmark = [pytest.mark.mcu]


def _compare(raw: bytes, expected):
    got = split_outputs(raw, [len(e) for e in expected])
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert not bad, f'{len(bad)} of {len(expected)} cases differ, first: case {bad[0]}'


@pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
def test_cls_kernels_bit_exact_host(tmp_path):
    source, expected = cls_program()
    _compare(run_program(build_program(source, tmp_path)), expected)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
def test_cls_kernels_sanitized(tmp_path):
    """The same cases under ASan + UBSan (out-of-bounds reads of the word loads, overflow)."""
    source, expected = cls_program()
    _compare(run_program(build_program(source, tmp_path, sanitize=True), timeout=300), expected)


@pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
def test_cls_kernels_detect_a_wrong_reference(tmp_path):
    """The comparison has teeth: one flipped expected byte is caught."""
    source, expected = cls_program(big=False)
    expected[0] = bytes([expected[0][0] ^ 1]) + expected[0][1:]
    with pytest.raises(AssertionError, match='case 0'):
        _compare(run_program(build_program(source, tmp_path)), expected)


def test_cls_kernels_dsp_bit_exact_in_qemu(tmp_path):
    reason = arm_toolchain_missing()
    if reason:
        pytest.skip(reason)
    source, expected = cls_program()
    raw, dis = build_and_run_m4(source, tmp_path, timeout=300)
    for fn, insns in (('rp_fc_s8', ('smlad', 'sxtab16', 'sxtb16')),
                      ('gap_sum4', ('sxtab16', ))):
        start = dis.find(f'<{fn}>:\n')
        assert start >= 0, f'{fn} missing from the M4 build'
        body = dis[start:dis.find('\n\n', start)]
        for insn in insns:
            assert f'\t{insn}' in body, f'{insn} missing from {fn} in the M4 build'
    _compare(raw, expected)


@pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
def test_classify_output_op_c_pieces(tmp_path):
    """The output op's model.h type, run statements and report body compile together and hand
    the harness the reference's records (the int32 dump equals ``result_bytes``)."""
    from mcu_export.ctest import PROLOGUE
    from mcu_export.ops.classify import ClassifyOp, exp_table_q15

    rng = np.random.default_rng(7)
    n = 37  # three score records: 16 + 16 + 5
    op = ClassifyOp('cls', 'logits', n, exp_table_q15(0.08))
    x = rng.integers(-128, 128, (1, 1, n)).astype(np.int8)
    x[0, 0, [4, 30]] = 127  # a tie: label 4
    from mcu_export.ops.base import c_array
    src = '\n'.join([
        PROLOGUE, *op.c_header('m', 'M'),
        'typedef void (*rp_result_sink_fn)(void *user, const char *label, const int32_t *v, '
        'int32_t n);', *op.emit_tables(None, 'm'), *c_array('logits', x, np.int8),
        'static rp_status m_run(m_result *result)', '{', '    rp_status st = RP_OK;',
        *('    ' + s for s in op.c_consume(None, None, lambda name: name)),
        '    if (st != RP_OK) { return st; }',
        *('    ' + s for s in op.c_finish(None, 'M', lambda name: name)), '}',
        'static void sink(void *user, const char *label, const int32_t *v, int32_t n)',
        '{', '    (void)user; (void)label; emit(v, (size_t)n * 4);', '}',
        'static void m_report_result(const m_result *r, rp_result_sink_fn sink, void *user)',
        '{', *('    ' + s for s in op.c_report('m')), '}',
        'int main(void)', '{', '    static m_result r;', '    check(m_run(&r), "run");',
        '    m_report_result(&r, sink, NULL);', '    return 0;', '}'])
    raw = run_program(build_program(src, tmp_path))
    expected = op.result_bytes(op.result(None, {'logits': x}))
    assert raw == expected and int(np.frombuffer(raw[:4], np.int32)[0]) == 4


@pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
def test_cls_limits_and_sizes_match_the_c(tmp_path):
    """The ops' Python limits and the GAP sums size are the C's (one source of truth)."""
    from mcu_export.ctest import PROLOGUE
    from mcu_export.ops import classify, gap, linear
    from mcu_export.quantize import ActQuant
    from mcu_export.quantize_cls import quantize_gap

    op = quantize_gap('g', (5, 3, 37), ActQuant(0.1, 2))
    lines, ident = op.emit('g')
    src = '\n'.join([PROLOGUE, *lines, 'int main(void)', '{',
                     '    const uint32_t v[5] = {RP_GAP_MAX_PIXELS, RP_FC_MAX_IN, '
                     'RP_CLASSIFY_MAX_CLASSES, RP_CLASSIFY_TABLE_SIZE, '
                     f'(uint32_t)rp_gap_get_sums_size(&{ident})}};',
                     f'    check(rp_gap_get_sums_size(&{ident}) ? RP_OK : RP_ARG_ERROR, "size");',
                     '    emit(v, sizeof v);', '    return 0;', '}'])
    got = np.frombuffer(run_program(build_program(src, tmp_path)), np.uint32).tolist()
    assert got == [gap.GAP_MAX_PIXELS, linear.FC_MAX_IN, classify.MAX_CLASSES,
                   classify.TABLE_SIZE, op.sums_bytes()]
