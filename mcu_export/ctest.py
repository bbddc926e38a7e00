"""Builds and runs small C programs against the runtime (kernel golden tests, benchmarks).

A kernel case is emitted as C (layer structs + input arrays from :mod:`mcu_export.cemit`), the
program writes every output to stdout, and the caller compares the bytes with
:mod:`mcu_export.reference`. Host programs compile with ``-Wall -Wextra -Werror
-ffp-contract=off`` (optionally under ASan/UBSan); the runtime is compiled once per flag set
into a static library.
"""
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .cemit import c_array, emit_detect_level, emit_stream
from .codegen import RUNTIME_DIR, TEMPLATE_DIR
from .ir import DetectLevel, StreamSpec

WARN_FLAGS = ['-std=c99', '-Wall', '-Wextra', '-Werror', '-ffp-contract=off']
SANITIZE_FLAGS = ['-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all']
ARM_INSTALL_HINT = ('apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi '
                    'qemu-system-arm')


def arm_toolchain_missing() -> Optional[str]:
    """None when arm-none-eabi-gcc and qemu-system-arm exist, else a skip message."""
    missing = [t for t in ('arm-none-eabi-gcc', 'qemu-system-arm') if shutil.which(t) is None]
    if missing:
        return f'{" and ".join(missing)} not found; install with: {ARM_INSTALL_HINT}'
    return None


def _cache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / f'mcu_export_ctest_{os.getuid()}'
    path.mkdir(exist_ok=True)
    return path


def runtime_library(flags: Sequence[str], cc: str = 'gcc') -> Path:
    """Compiles the runtime into ``librp.a`` for a flag set (cached by flags + sources)."""
    sources = sorted(RUNTIME_DIR.glob('*.c'))
    digest = hashlib.sha1(' '.join([cc] + list(flags)).encode())
    for src in sorted(RUNTIME_DIR.glob('*.[ch]')):
        digest.update(src.read_bytes())
    out = _cache_dir() / f'rt_{digest.hexdigest()[:16]}'
    lib = out / 'librp.a'
    if lib.exists():
        return lib
    out.mkdir(exist_ok=True)
    objs = []
    for src in sources:
        obj = out / (src.stem + '.o')
        subprocess.run([cc, *flags, f'-I{RUNTIME_DIR}', '-c', str(src), '-o', str(obj)],
                       check=True, capture_output=True, text=True)
        objs.append(str(obj))
    tmp = out / f'librp.{os.getpid()}.a'
    subprocess.run(['ar', 'rcs', str(tmp), *objs], check=True, capture_output=True)
    tmp.replace(lib)
    return lib


def build_program(source: str, workdir, sanitize: bool = False, cc: str = 'gcc',
                  extra_flags: Sequence[str] = ()) -> Path:
    """Compiles one test program (a main.c) against the runtime; raises with gcc's message.

    ``extra_flags`` (e.g. ``['-DRP_DEBUG_PATHS']``, which makes the RNNPool kernel report the
    paths it planned) apply to the program and the runtime library.
    """
    flags = WARN_FLAGS + (SANITIZE_FLAGS if sanitize else ['-O2']) + list(extra_flags)
    lib = runtime_library(flags, cc)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    src = work / 'main.c'
    src.write_text(source)
    exe = work / ('main_asan' if sanitize else 'main')
    proc = subprocess.run([cc, *flags, f'-I{RUNTIME_DIR}', str(src), str(lib), '-o', str(exe)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'compiling {src} failed:\n{proc.stderr}')
    return exe


def run_program(exe: Path, args: Sequence[str] = (), timeout: float = 60) -> bytes:
    """Runs a program, returns stdout; raises with stderr on a non-zero exit."""
    env = dict(os.environ, ASAN_OPTIONS='detect_leaks=0', UBSAN_OPTIONS='print_stacktrace=1')
    proc = subprocess.run([str(exe), *args], capture_output=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f'{exe} exited with {proc.returncode}:\n'
                           f'{proc.stderr.decode(errors="replace")[-3000:]}')
    return proc.stdout


PROLOGUE = """\
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rp_nn.h"

static void emit(const void *p, size_t n) { fwrite(p, 1, n, stdout); }
__attribute__((unused)) static void emit_u32(uint32_t v) { emit(&v, 4); }
static void check(rp_status st, const char *what)
{
    if (st != RP_OK) { fprintf(stderr, "%s failed: %d\\n", what, (int)st); exit(2); }
}
"""


class ProgramBuilder:
    """Accumulates kernel cases into one C program (declarations + main body)."""

    def __init__(self) -> None:
        self.decls: List[str] = []
        self.body: List[str] = []
        self.count = 0

    def _name(self, kind: str) -> str:
        self.count += 1
        return f'c{self.count}_{kind}'

    def source(self) -> str:
        """The whole program."""
        return (PROLOGUE + '\n'.join(self.decls) + '\n\nint main(void)\n{\n' +
                '\n'.join('    ' + line for line in self.body) + '\n    return 0;\n}\n')

    def add_layer_case(self, layer, inputs: Sequence[np.ndarray], out_size: int,
                       scratch: Optional[int] = None) -> None:
        """A whole-map op call; writes [scratch size u32 (the kernel's own query)] + output
        bytes. With ``scratch`` the call is first checked to reject a NULL buffer."""
        p = self._name(layer.kind)
        lines, ident = layer.emit(p)
        self.decls += lines
        for i, x in enumerate(inputs):
            self.decls += c_array(f'{p}_in{i}', x, np.int8)
        self.decls.append(f'static int8_t {p}_out[{out_size}];')
        ins = [f'{p}_in{i}' for i in range(len(inputs))]
        if scratch is not None:
            query = layer.c_scratch_query(ident)
            if query is None:
                raise ValueError(f'op {layer.name} ({layer.kind}) has no scratch query')
            self.decls.append(f'static uint32_t {p}_buf[{(scratch + 3) // 4 + 1}];')
            null_call = layer.c_call(ident, ins, f'{p}_out', ('NULL', 0))
            call = layer.c_call(ident, ins, f'{p}_out', (f'{p}_buf', query))
            self.body += [f'emit_u32((uint32_t){query});',
                          f'check({null_call} == RP_ARG_ERROR ? RP_OK : RP_NO_IMPL, '
                          '"NULL buffer rejected");']
        else:
            call = layer.c_call(ident, ins, f'{p}_out', None)
        self.body.append(f'check({call}, "{p}");')
        self.body.append(f'emit({p}_out, {out_size});')

    def add_stream_case(self, spec: StreamSpec, image: np.ndarray) -> None:
        """The streamed front-end over an image in a const array; writes [size u32] + map."""
        p = self._name('stream')
        lines, _ = emit_stream(spec, p)
        self.decls += lines
        h, w, c = spec.image_shape
        oh, ow, oc = spec.out_shape
        self.decls += c_array(f'{p}_img', image, np.uint8)
        self.decls += [
            f'static int {p}_read(void *user, uint8_t *dst, int32_t row0, int32_t nrows)', '{',
            '    (void)user;',
            f'    if (row0 < 0 || row0 + nrows > {h}) {{ return -1; }}',
            f'    memcpy(dst, {p}_img + (size_t)row0 * {w * c}, (size_t)nrows * {w * c});',
            '    return 0;', '}',
            f'static int8_t {p}_out[{oh * ow * oc}];',
            f'static uint32_t {p}_buf[{spec.scratch_bytes // 4 + 1}];'
        ]
        self.body += [f'emit_u32((uint32_t)rp_stream_get_buffer_size(&{p}));',
                      f'check(rp_stream_run(&{p}, NULL, 0, {p}_read, NULL, NULL, {p}_out) == '
                      'RP_ARG_ERROR ? RP_OK : RP_NO_IMPL, "NULL buffer rejected");',
                      f'check(rp_stream_run(&{p}, {p}_buf, sizeof {p}_buf, {p}_read, NULL, NULL, '
                      f'{p}_out), "{p}");', f'emit({p}_out, {oh * ow * oc});']

    def add_detect_case(self, levels: Sequence[DetectLevel], heads: Sequence[Tuple[np.ndarray,
                                                                                   np.ndarray]],
                        score_thr: int, iou_thr: int, max_candidates: int, max_dets: int,
                        img_w: int, img_h: int) -> None:
        """Detection post-processing; writes [n u32] + n x 7 int32 rows."""
        p = self._name('detect')
        inits = []
        for i, (lv, (loc, conf)) in enumerate(zip(levels, heads)):
            lines, init = emit_detect_level(lv, conf.shape, conf.shape[2], f'{p}_l{i}')
            self.decls += lines + c_array(f'{p}_loc{i}', loc, np.int8)
            self.decls += c_array(f'{p}_conf{i}', conf, np.int8)
            inits.append(init)
        self.decls += [f'static const rp_detect_level {p}_levels[] = {{{", ".join(inits)}}};',
                       f'static rp_detection {p}_cand[{max_candidates}];',
                       f'static rp_detection {p}_dets[{max_dets}];']
        self.body += ['{', f'    rp_detect_ctx ctx; int32_t n = 0;',
                      f'    check(rp_detect_init(&ctx, {p}_cand, {max_candidates}, {score_thr}, '
                      f'{img_w}, {img_h}), "init");']
        for i, (loc, conf) in enumerate(heads):
            h = conf.shape[0]
            split = h // 2  # two calls per level: row streaming must give the same result
            self.body += [
                f'    check(rp_detect_add_rows(&ctx, &{p}_levels[{i}], {i}, {p}_loc{i}, '
                f'{p}_conf{i}, 0, {split}), "rows a");',
                f'    check(rp_detect_add_rows(&ctx, &{p}_levels[{i}], {i}, '
                f'{p}_loc{i} + {split * loc.shape[1] * 4}, '
                f'{p}_conf{i} + {split * conf.shape[1] * conf.shape[2]}, {split}, {h - split}), '
                '"rows b");'
            ]
        self.body += [
            f'    check(rp_detect_finish(&ctx, {iou_thr}, {p}_dets, {max_dets}, &n), "finish");',
            '    emit_u32((uint32_t)n);', '    for (int32_t i = 0; i < n; i++) {',
            f'        const rp_detection *d = &{p}_dets[i];',
            '        int32_t v[7] = {d->x1, d->y1, d->x2, d->y2, d->score, d->label, d->level};',
            '        emit(v, sizeof v);', '    }', '}'
        ]


M4_FLAGS = WARN_FLAGS + ['-O2', '-mcpu=cortex-m4', '-mthumb', '-mfloat-abi=hard',
                         '-mfpu=fpv4-sp-d16']

# Runs the test program's main() with stdout redirected (newlib over semihosting) to a file in
# QEMU's working directory: binary output cannot be mangled by a console.
M4_WRAPPER = """\
#include <stdio.h>
extern void initialise_monitor_handles(void);
int rp_test_main(void);
int main(void)
{
    initialise_monitor_handles();
    if (freopen("out.bin", "wb", stdout) == NULL) {
        return 3;
    }
    const int rc = rp_test_main();
    fclose(stdout);
    return rc;
}
"""


def build_and_run_m4(source: str, workdir, extra_flags: Sequence[str] = (),
                     timeout: float = 300, extra_sources: Sequence[str] = ()) -> Tuple[bytes, str]:
    """Build a test program (its ``main`` and the runtime) for QEMU's mps2-an386 and run it.

    Args:
        source (str): C source with a ``main()`` that writes its results to stdout.
        workdir: A folder for the build (created if needed).
        extra_flags (Sequence[str]): More compiler flags, e.g. ``['-DRP_NO_DSP']``.
            Defaults to ().
        timeout (float): Seconds QEMU may run. Defaults to 300.
        extra_sources (Sequence[str]): More C files linked in (e.g. generated ``model.c``s).
            Defaults to ().

    Returns:
        tuple[bytes, str]: What the program wrote to stdout, and the ELF's disassembly (so
        that a test can check which instructions the build really uses).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / 'main.c').write_text(source)
    (workdir / 'wrapper.c').write_text(M4_WRAPPER)
    flags = M4_FLAGS + list(extra_flags) + [f'-I{RUNTIME_DIR}']
    obj, elf = workdir / 'main.o', workdir / 'test.elf'
    # newlib's heap (stdio buffers) grows from the stack's far end; 64 KB of stack is plenty
    for cmd in (['arm-none-eabi-gcc', *flags, '-Dmain=rp_test_main', '-c',
                 str(workdir / 'main.c'), '-o', str(obj)],
                ['arm-none-eabi-gcc', *flags, str(obj), *[str(p) for p in extra_sources],
                 *sorted(str(p) for p in RUNTIME_DIR.glob('*.c')), str(workdir / 'wrapper.c'),
                 str(TEMPLATE_DIR / 'startup_m4.S'), '-nostartfiles', '--specs=nano.specs',
                 '--specs=rdimon.specs', '-T', str(TEMPLATE_DIR / 'mps2_an386.ld'),
                 '-Wl,--defsym=__ram_budget=4194304', '-Wl,--defsym=__stack_size=65536',
                 '-Wl,--defsym=end=__stack_limit', '-o', str(elf)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f'arm-none-eabi-gcc failed:\n{proc.stderr[-3000:]}')
    dis = subprocess.run(['arm-none-eabi-objdump', '-d', str(elf)], capture_output=True,
                         text=True, check=True).stdout
    proc = subprocess.run(['qemu-system-arm', '-M', 'mps2-an386', '-cpu', 'cortex-m4',
                           '-nographic', '-monitor', 'none', '-serial', 'none',
                           '-semihosting-config', 'enable=on,target=native', '-kernel',
                           str(elf)], cwd=workdir, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f'QEMU exited with {proc.returncode}: {proc.stdout[-2000:]!r} '
                           f'{proc.stderr[-2000:]!r}')
    return (workdir / 'out.bin').read_bytes(), dis


def split_outputs(raw: bytes, sizes: Iterable[int]) -> List[bytes]:
    """Cuts a program's stdout into consecutive chunks of the given sizes."""
    out, off = [], 0
    for size in sizes:
        out.append(raw[off:off + size])
        off += size
    if off != len(raw):
        raise ValueError(f'program wrote {len(raw)} bytes, expected {off}')
    return out


__all__ = [
    'arm_toolchain_missing', 'runtime_library', 'build_program', 'run_program',
    'ProgramBuilder', 'split_outputs', 'ARM_INSTALL_HINT', 'WARN_FLAGS', 'SANITIZE_FLAGS',
    'M4_FLAGS', 'M4_WRAPPER', 'build_and_run_m4'
]
