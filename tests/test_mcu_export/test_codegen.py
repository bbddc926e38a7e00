"""Generated projects: host build == integer reference, QEMU (mps2-an386) == host, RAM budget.

The host runs use the generated Makefile (``make host`` / ``make sanitize``), so the build
files are tested as shipped; the QEMU tests skip when the ARM toolchain is missing.
"""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mcu_export.codegen import tensor_order, write_project
from mcu_export.ctest import arm_toolchain_missing
from mcu_export.random_model import random_program
from mcu_export.reference import camera_grey, run_program

pytestmark = [
    pytest.mark.mcu,
    pytest.mark.skipif(shutil.which('make') is None or shutil.which('gcc') is None,
                       reason='make / host gcc not found')
]


def _write_image(path: Path, image: np.ndarray) -> None:
    h, w, c = image.shape
    magic = b'P6' if c == 3 else b'P5'
    path.write_bytes(magic + f'\n# test image\n{w} {h}\n255\n'.encode() + image.tobytes())


def _project(tmp_path, seed=0, image_shape=(32, 40, 3), file_channels=None, stream_head=True):
    program = random_program(np.random.default_rng(seed), image_shape=image_shape,
                             stream_head=stream_head)
    # long lists, so that every level (the streamed one too) reaches the output
    program.detect.max_candidates, program.detect.max_dets = 600, 200
    plan = write_project(program, tmp_path / 'proj', ram_budget=64 * 1024, stack_bytes=4096)
    rng = np.random.default_rng(seed + 100)
    fc = file_channels or image_shape[2]
    image = rng.integers(0, 256, image_shape[:2] + (fc, )).astype(np.uint8)
    _write_image(tmp_path / 'proj' / 'img.ppm', image)
    if fc == image_shape[2]:
        model_image = image
    elif fc == 3:  # the harness's RGB -> grey
        model_image = camera_grey(image)
    else:
        model_image = np.repeat(image, 3, axis=2)
    tensors, dets = run_program(program, model_image)
    return program, plan, tensors, dets


def _make(proj: Path, *targets, check=True):
    return subprocess.run(['make', '-s', '-C', str(proj), *targets], capture_output=True,
                          text=True, check=check, timeout=300)


def _check_dump(program, tensors, dets, dump: Path):
    raw = dump.read_bytes()
    off = 0
    for name in tensor_order(program):
        t = tensors[name]
        got = np.frombuffer(raw[off:off + t.size], np.int8).reshape(t.shape)
        assert np.array_equal(got, t), f'tensor {name}: {int((got != t).sum())} values differ'
        off += t.size
    n = int(np.frombuffer(raw[off:off + 4], np.int32)[0])
    got = np.frombuffer(raw[off + 4:], np.int32).reshape(n, 7)
    assert np.array_equal(got, dets), f'detections differ:\nC {got}\nref {dets}'


@pytest.mark.parametrize('seed,image_shape,file_channels,stream_head',
                         [(0, (32, 40, 3), None, True), (1, (24, 32, 1), 3, True),
                          (4, (16, 24, 3), 1, False)])
def test_host_build_matches_reference(tmp_path, seed, image_shape, file_channels, stream_head):
    program, plan, tensors, dets = _project(tmp_path, seed, image_shape, file_channels,
                                            stream_head)
    proj = tmp_path / 'proj'
    _make(proj, 'run-host', 'IMAGE=img.ppm', 'DUMP=dump.bin')
    _check_dump(program, tensors, dets, proj / 'dump.bin')
    levels = set(dets[:, 6].tolist())
    assert len(levels) >= 2 and (0 in levels or not stream_head), levels
    header = (proj / 'model.h').read_text()
    assert f'#define RP_MODEL_ARENA_BYTES {plan.arena_bytes}' in header


def test_harness_rejects_wrong_image_size(tmp_path):
    _project(tmp_path)
    proj = tmp_path / 'proj'
    _write_image(proj / 'small.ppm', np.zeros((8, 8, 3), np.uint8))
    proc = _make(proj, 'run-host', 'IMAGE=small.ppm', check=False)
    assert proc.returncode != 0
    assert 'error: image is 8x8, the model takes 40x32' in proc.stdout


@pytest.mark.slow
def test_host_sanitizers_clean(tmp_path):
    program, _, tensors, dets = _project(tmp_path, seed=3)
    proj = tmp_path / 'proj'
    proc = _make(proj, 'sanitize', 'IMAGE=img.ppm', 'DUMP=dump.bin')
    assert 'runtime error' not in proc.stderr
    _check_dump(program, tensors, dets, proj / 'dump.bin')


@pytest.mark.slow
def test_qemu_matches_host(tmp_path):
    reason = arm_toolchain_missing()
    if reason:
        pytest.skip(reason)
    program, _, tensors, dets = _project(tmp_path, seed=4)
    proj = tmp_path / 'proj'
    host = _make(proj, 'run-host', 'IMAGE=img.ppm', 'DUMP=dump_host.bin').stdout
    m4 = _make(proj, 'qemu', 'IMAGE=img.ppm', 'DUMP=dump_m4.bin').stdout
    assert (proj / 'dump_m4.bin').read_bytes() == (proj / 'dump_host.bin').read_bytes()
    _check_dump(program, tensors, dets, proj / 'dump_m4.bin')
    # same printed tensors and detections; the M4 adds its measurements
    m4_lines = m4.splitlines()
    assert m4_lines[:len(host.splitlines())] == host.splitlines()
    measured = dict(line.split() for line in m4_lines[len(host.splitlines()):])
    assert int(measured['instructions']) > 0
    assert 0 < int(measured['stack_bytes']) < 4096


def test_ram_budget_link_failure(tmp_path):
    reason = arm_toolchain_missing()
    if reason:
        pytest.skip(reason)
    _, plan, _, _ = _project(tmp_path, seed=5)
    proj = tmp_path / 'proj'
    budget = plan.arena_bytes + 1024  # the arena alone fits, arena + 4 KB stack does not
    proc = _make(proj, 'm4', f'RAM_BUDGET={budget}', check=False)
    assert proc.returncode != 0
    assert 'RAM budget exceeded' in proc.stderr
    _make(proj, 'm4', f'RAM_BUDGET={plan.arena_bytes + 16 * 1024}')
    assert (proj / 'build' / 'm4' / 'model.elf').exists()
