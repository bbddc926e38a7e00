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
