"""The per-layer profile (``-DRP_PROFILE``, ``make qemu-profile``) of a generated project.

A small random detector program: the hooks must not change the default build's code, the
profile image must compute what the host computes, name every stream stage and whole-map step,
and its rows must add up to the unprofiled QEMU run within the hooks' own cost; its clock must
refuse to run where it would not count instructions exactly.
"""
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mcu_export.build import build_and_measure, write_pnm
from mcu_export.codegen import write_project
from mcu_export.ctest import arm_toolchain_missing
from mcu_export.profile import PROFILE_HEADER, parse_profile, profile_ids, profile_markdown
from mcu_export.random_model import random_program

pytestmark = [
    pytest.mark.mcu,
    pytest.mark.skipif(shutil.which('make') is None or shutil.which('gcc') is None,
                       reason='make / host gcc not found')
]
M4_FLAGS = ['-std=c99', '-O2', '-mcpu=cortex-m4', '-mthumb', '-mfloat-abi=hard',
            '-mfpu=fpv4-sp-d16', '-ffunction-sections', '-fdata-sections', '-DRP_SEMIHOSTING']


def _project(tmp_path: Path, seed: int = 0):
    program = random_program(np.random.default_rng(seed), image_shape=(32, 40, 3))
    proj = tmp_path / 'proj'
    write_project(program, proj, ram_budget=64 * 1024, stack_bytes=4096)
    image = np.random.default_rng(seed + 100).integers(0, 256, (32, 40, 3)).astype(np.uint8)
    write_pnm(proj / 'image.pnm', image)
    return program, proj


def _require_arm():
    reason = arm_toolchain_missing()
    if reason:
        pytest.skip(reason)


def test_profile_ids_come_from_the_header():
    ids = profile_ids()
    text = PROFILE_HEADER.read_text()
    assert f'#define RP_PROFILE_STAGE_BASE {ids["STAGE_BASE"]}' in text
    # stage and step ids never collide with each other or with the fixed ids
    fixed = [ids[k] for k in ('ID_RUN', 'ID_STREAM', 'ID_OUTPUT', 'ID_REPORT')]
    assert max(fixed) < ids['STEP_BASE'] and ids['STEP_BASE'] + 256 <= ids['STAGE_BASE']


def _disassembly(tmp_path: Path, src: Path, proj: Path, name: str) -> str:
    obj = tmp_path / f'{name}.o'
    subprocess.run(['arm-none-eabi-gcc', *M4_FLAGS, f'-I{proj / "runtime"}', f'-I{proj}', '-c',
                    str(src), '-o', str(obj)], check=True, capture_output=True, text=True)
    out = subprocess.run(['arm-none-eabi-objdump', '-d', str(obj)], check=True,
                         capture_output=True, text=True).stdout
    return out.split('Disassembly', 1)[1]


def test_hooks_leave_the_default_build_unchanged(tmp_path):
    """model.c and rp_stream.c compile to the same M4 code with and without their hook lines
    (the default build's instruction counts cannot move)."""
    _require_arm()
    _, proj = _project(tmp_path)
    for rel in ('model.c', 'runtime/rp_stream.c'):
        src = proj / rel
        text = src.read_text()
        hooks = [ln for ln in text.splitlines() if re.search(r'RP_PROFILE_(BEGIN|END)\(', ln)]
        assert len(hooks) >= 2, rel
        stripped = tmp_path / f'stripped_{src.name}'
        stripped.write_text('\n'.join(ln for ln in text.splitlines() if ln not in hooks))
        assert (_disassembly(tmp_path, src, proj, 'hooked') ==
                _disassembly(tmp_path, stripped, proj, 'stripped')), rel


def test_profile_rows_add_up_to_the_unprofiled_run(tmp_path):
    _require_arm()
    from mcu_export.pipeline import profile_layers
    program, proj = _project(tmp_path, seed=1)
    measured = build_and_measure(proj, 'image.pnm', log=lambda *_: None)
    assert measured['qemu_matches_host']
    prof = profile_layers(program, proj, measured['instructions'], log=lambda *_: None)
    assert prof['matches_host'] and not prof['error']
    rows = {(r['where'], r['unit']): r for r in prof['rows']}
    for stage in program.stream.stages:
        r = rows[('stream stage', stage.name)]
        assert r['calls'] > 0 and r['instructions'] > 0, stage.name
    for step in program.steps:
        r = rows[('whole map', step.layer.name)]
        assert r['calls'] == 1 and r['instructions'] > 0, step.layer.name
        # a whole-map layer does at least one instruction per MAdd on the M4's SIMD (2 MAdds
        # per SMLAD at best) and not 100
        if r['madds'] > 1000:
            assert 0.5 < r['instructions_per_madd'] < 100, r
    assert rows[('output', program.output.name)]['calls'] >= 2  # begin, decode(s), finish
    # the rows cover the whole run: their sum is the unprofiled count (+-40) up to a few
    # instructions per hook event (call-site register moves the leak calibration cannot see),
    # far below the hooks' own cost
    events = prof['hook_events']
    assert events > 2 * len(program.stream.stages)
    assert abs(prof['difference']) <= 40 + 4 * events, prof
    assert prof['hook_instructions_per_event'] > 4 * abs(prof['difference']) / events
    assert abs(sum(r['share'] for r in prof['rows']) - 1) < 1e-3
    md = '\n'.join(profile_markdown(prof))
    assert all(f'| {s.name} | stream stage |' in md for s in program.stream.stages)


def test_profile_clock_refuses_an_inexact_count(tmp_path):
    """Under -icount shift=0 the counter ticks every 40 instructions: the profile image must
    say so instead of printing rounded numbers."""
    _require_arm()
    _, proj = _project(tmp_path, seed=2)
    subprocess.run(['make', '-s', '-C', str(proj), 'm4-profile'], check=True,
                   capture_output=True, text=True, timeout=300)
    proc = subprocess.run(
        ['qemu-system-arm', '-M', 'mps2-an386', '-cpu', 'cortex-m4', '-nographic', '-monitor',
         'none', '-serial', 'none', '-icount', 'shift=0', '-chardev', 'stdio,id=semi',
         '-semihosting-config', 'enable=on,target=native,chardev=semi,arg=model.elf,'
         'arg=image.pnm', '-kernel', 'build/m4-profile/model.elf'], cwd=proj,
        capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert 'error: the profile clock is not exact' in proc.stdout
    with pytest.raises(ValueError, match='profile clock is not exact'):
        parse_profile(proc.stdout)
