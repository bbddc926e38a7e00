"""Builds a generated project, runs it on the host and in QEMU, and collects measurements."""
import re
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from .ctest import arm_toolchain_missing


def write_pnm(path, image: np.ndarray) -> None:
    """Writes a uint8 HWC image (1 or 3 channels) as binary PGM / PPM."""
    h, w, c = image.shape
    if c not in (1, 3):
        raise ValueError(f'{path}: only 1- or 3-channel images can be written, got {c}')
    magic = b'P5' if c == 1 else b'P6'
    Path(path).write_bytes(magic + f'\n{w} {h}\n255\n'.encode() +
                           np.ascontiguousarray(image, dtype=np.uint8).tobytes())


def _make(proj: Path, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(['make', '-s', '-C', str(proj), *args], capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f'make {" ".join(args)} in {proj} failed:\n{proc.stdout[-2000:]}\n'
                           f'{proc.stderr[-3000:]}')
    return proc


def run_host(proj, image: str, timeout: int = 120) -> bytes:
    """Runs the host build (``make host`` first) on one image and returns its dump.

    Args:
        proj (str | Path): Generated project.
        image (str): Image file name relative to ``proj``.
        timeout (int): Seconds. Defaults to 120.

    Returns:
        bytes: every tensor, then the result's int32 records (``harness.c``'s dump format;
        ``codegen.expected_dump`` predicts it).
    """
    proj = Path(proj)
    dump = proj / 'dump_eval.bin'
    proc = subprocess.run([str(proj / 'build' / 'host' / 'model'), image, dump.name], cwd=proj,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f'{proj}/build/host/model {image} failed ({proc.returncode}):\n'
                           f'{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}')
    data = dump.read_bytes()
    dump.unlink()
    return data


def section_sizes(elf: Path) -> Dict[str, int]:
    """Section sizes of an ELF from ``arm-none-eabi-size -A``."""
    out = subprocess.run(['arm-none-eabi-size', '-A', str(elf)], capture_output=True, text=True,
                         check=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith('.') and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def build_and_measure(proj, image: str, qemu: bool = True, log=print) -> dict:
    """Host build + run (timed), M4 build + QEMU run; compares the two dumps.

    Args:
        proj (str | Path): Generated project.
        image (str): Image file name relative to ``proj``.
        qemu (bool): Build for the M4 and run QEMU (skipped with a note when the toolchain is
            missing). Defaults to True.
        log (callable): Progress printer. Defaults to print.

    Returns:
        dict: measurements (None where not measured) and the host / M4 outputs.
    """
    proj = Path(proj)
    res: Dict[str, Optional[object]] = dict(flash_bytes=None, static_ram_bytes=None,
                                            stack_bytes=None, peak_ram_bytes=None,
                                            instructions=None, host_ms_per_image=None,
                                            qemu_matches_host=None, note=None)
    log('  make host')
    _make(proj, 'host')
    start = time.perf_counter()
    host = _make(proj, 'run-host', f'IMAGE={image}', 'DUMP=dump_host.bin').stdout
    res['host_ms_per_image'] = (time.perf_counter() - start) * 1000  # includes process start
    res['host_output'] = host
    reason = arm_toolchain_missing() if qemu else 'QEMU run not requested'
    if reason:
        res['note'] = reason
        return res
    log('  make m4')
    _make(proj, 'm4')
    sizes = section_sizes(proj / 'build' / 'm4' / 'model.elf')
    res['flash_bytes'] = sum(sizes.get(s, 0) for s in ('.vectors', '.text', '.rodata',
                                                         '.ARM.exidx', '.data'))
    res['static_ram_bytes'] = sizes.get('.data', 0) + sizes.get('.bss', 0)
    log('  make qemu')
    m4 = _make(proj, 'qemu', f'IMAGE={image}', 'DUMP=dump_m4.bin').stdout
    res['m4_output'] = m4
    found = dict(re.findall(r'^(instructions|stack_bytes) (\d+)$', m4, re.M))
    if 'instructions' in found:
        res['instructions'] = int(found['instructions'])
    if 'stack_bytes' in found:
        res['stack_bytes'] = int(found['stack_bytes'])
        res['peak_ram_bytes'] = res['static_ram_bytes'] + res['stack_bytes']
    res['qemu_matches_host'] = ((proj / 'dump_m4.bin').read_bytes() ==
                                (proj / 'dump_host.bin').read_bytes())
    return res


def run_profile(proj, image: str, log=print) -> dict:
    """Builds the profile image (``-DRP_PROFILE``) and runs it once in QEMU
    (``make qemu-profile``).

    Args:
        proj (str | Path): Generated project (``make host`` and ``make qemu`` run before, so
            ``dump_host.bin`` exists).
        image (str): Image file name relative to ``proj``.
        log (callable): Progress printer. Defaults to print.

    Returns:
        dict: :func:`mcu_export.profile.parse_profile`'s data and ``matches_host`` (the
        profile image's dump == the host's: the hooks changed no value).
    """
    from .profile import parse_profile
    proj = Path(proj)
    reason = arm_toolchain_missing()
    if reason:
        raise RuntimeError(f'profile: {reason}')
    log('  make qemu-profile')
    out = _make(proj, 'qemu-profile', f'IMAGE={image}', 'DUMP=dump_m4_profile.bin').stdout
    parsed = parse_profile(out)
    host = proj / 'dump_host.bin'
    parsed['matches_host'] = (host.exists() and (proj / 'dump_m4_profile.bin').read_bytes()
                              == host.read_bytes())
    return parsed


__all__ = ['write_pnm', 'run_host', 'section_sizes', 'build_and_measure', 'run_profile']
