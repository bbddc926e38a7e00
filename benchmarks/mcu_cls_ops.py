"""Classifier kernels on the Cortex-M4 in QEMU: DSP path vs portable C, instructions per MAC.

Builds one bare-metal program per variant (the runtime's DSP path, and the same sources with
``-DRP_NO_DSP``) for QEMU mps2-an386 and counts QEMU instructions (``-icount shift=0``, FPGAIO
counter x 40) of: global average pooling over the MobileNetV2-0.35x last map at 224 x 224 and
96 x 96 (whole map ``rp_gap_s8``, and streamed: ``rp_gap_s8_add_row`` per row + finish), and
fully connected layers (``rp_fc_s8``, the VWW head 1280 -> 2 and wider ones). Every output is
checked against the ops' integer reference (FNV-1a of the bytes). QEMU counts instructions, not
cycles (an M4 cycle estimate is x CPI ~1.2-1.6).

Usage: python benchmarks/mcu_cls_ops.py
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests' / 'test_mcu_export'))

from cls_cases import random_gap, random_linear  # noqa: E402
from mcu_export.codegen import RUNTIME_DIR, TEMPLATE_DIR  # noqa: E402
from mcu_export.ctest import arm_toolchain_missing  # noqa: E402
from mcu_export.ops.base import c_array  # noqa: E402

REPEAT = 4

PRELUDE = r"""
#include <stdint.h>
#include "rp_nn.h"
static int32_t sh_call(int32_t op, void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
static void put_u32(const char *label, uint32_t v)
{
    char buf[64];
    int n = 0;
    while (*label) buf[n++] = *label++;
    buf[n++] = ' ';
    char tmp[12];
    int k = 0;
    do { tmp[k++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    while (k) buf[n++] = tmp[--k];
    buf[n++] = '\n';
    buf[n] = 0;
    (void)sh_call(0x04, buf);
}
static uint32_t fnv(const int8_t *p, int32_t n)
{
    uint32_t h = 2166136261u;
    for (int32_t i = 0; i < n; i++) { h = (h ^ (uint8_t)p[i]) * 16777619u; }
    return h;
}
#define COUNTER (*(volatile uint32_t *)0x40028018u)
"""


def fnv(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def cases(rng):
    """(label, op, input, kind, work) with work = MACs (fc) or input values (gap)."""
    out = []
    for label, shape in (('GAP 7x7x1280 (224)', (7, 7, 1280)), ('GAP 3x3x1280 (96)', (3, 3, 1280)),
                         ('GAP 7x7x56', (7, 7, 56))):
        op, x = random_gap(rng, 'g', shape)
        out.append((label, op, x, 'gap', int(np.prod(shape))))
    for n_in, n_out in ((1280, 2), (1280, 10), (256, 100), (33, 7)):
        op, x = random_linear(rng, 'f', n_in, n_out)
        out.append((f'FC {n_in} -> {n_out}', op, x, 'fc', n_in * n_out))
    return out


def program(items) -> str:
    src = [PRELUDE]
    body = ['int main(void)', '{', '    uint32_t t0, t1;']
    for i, (label, op, x, kind, _) in enumerate(items):
        lines, ident = op.emit(f'op{i}')
        src += lines + c_array(f'in{i}', x, np.int8)
        n_out = op.out_shape[2]
        src.append(f'static int8_t out{i}[{n_out}];')
        if kind == 'gap':
            h, w, c = op.in_shape
            src.append(f'static int32_t sums{i}[{c}];')
            body += ['    t0 = COUNTER;', f'    for (int r = 0; r < {REPEAT}; r++) {{',
                     f'        if (rp_gap_s8(&{ident}, in{i}, out{i}) != RP_OK) return 1;', '    }',
                     '    t1 = COUNTER;', f'    put_u32("whole{i}", (t1 - t0) * 40u / {REPEAT});',
                     f'    put_u32("hash{i}", fnv(out{i}, {n_out}));',
                     '    t0 = COUNTER;', f'    for (int r = 0; r < {REPEAT}; r++) {{',
                     f'        if (rp_gap_s8_begin(&{ident}, sums{i}) != RP_OK) return 1;',
                     f'        for (int y = 0; y < {h}; y++) {{',
                     f'            if (rp_gap_s8_add_row(&{ident}, sums{i}, in{i} + y * {w * c}) '
                     '!= RP_OK) return 1;', '        }',
                     f'        if (rp_gap_s8_finish(&{ident}, sums{i}, out{i}) != RP_OK) return 1;',
                     '    }', '    t1 = COUNTER;',
                     f'    put_u32("rows{i}", (t1 - t0) * 40u / {REPEAT});',
                     f'    put_u32("hashrows{i}", fnv(out{i}, {n_out}));']
        else:
            body += ['    t0 = COUNTER;', f'    for (int r = 0; r < {REPEAT}; r++) {{',
                     f'        if (rp_fc_s8(&{ident}, in{i}, out{i}) != RP_OK) return 1;', '    }',
                     '    t1 = COUNTER;', f'    put_u32("whole{i}", (t1 - t0) * 40u / {REPEAT});',
                     f'    put_u32("hash{i}", fnv(out{i}, {n_out}));']
    return '\n'.join(src + body + ['    return 0;', '}'])


def run(source: str, work: Path, extra) -> dict:
    main = work / 'bench.c'
    main.write_text(source)
    elf = work / 'bench.elf'
    flags = ['-std=c99', '-O2', '-mcpu=cortex-m4', '-mthumb', '-mfloat-abi=hard',
             '-mfpu=fpv4-sp-d16', '-ffp-contract=off', f'-I{RUNTIME_DIR}', *extra]
    subprocess.run(['arm-none-eabi-gcc', *flags, str(main), *map(str, RUNTIME_DIR.glob('*.c')),
                    str(TEMPLATE_DIR / 'startup_m4.S'), '-nostartfiles', '--specs=nano.specs',
                    '-T', str(TEMPLATE_DIR / 'mps2_an386.ld'), '-o', str(elf)], check=True)
    proc = subprocess.run(['qemu-system-arm', '-M', 'mps2-an386', '-cpu', 'cortex-m4',
                           '-nographic', '-monitor', 'none', '-serial', 'none', '-icount',
                           'shift=0', '-chardev', 'stdio,id=semi', '-semihosting-config',
                           'enable=on,target=native,chardev=semi', '-kernel', str(elf)],
                          capture_output=True, text=True, timeout=300, check=True)
    return {k: int(v) for k, v in (line.split() for line in proc.stdout.splitlines())}


def main() -> int:
    reason = arm_toolchain_missing()
    if reason:
        print(reason)
        return 1
    items = cases(np.random.default_rng(2026))
    src = program(items)
    with tempfile.TemporaryDirectory() as tmp:
        dsp = run(src, Path(tmp), [])
        portable = run(src, Path(tmp), ['-DRP_NO_DSP'])
    print('| kernel | work | portable instr | DSP instr | portable / DSP instr per MAC or value '
          '| DSP streamed rows instr | bit-exact (ref == portable == DSP) |')
    print('|---|---|---|---|---|---|---|')
    ok = True
    for i, (label, op, x, kind, work) in enumerate(items):
        want = fnv(op.reference([x]).tobytes())
        exact = all(v[f'hash{i}'] == want for v in (dsp, portable))
        rows = '-'
        if kind == 'gap':
            exact = exact and all(v[f'hashrows{i}'] == want for v in (dsp, portable))
            rows = f'{dsp[f"rows{i}"]} ({dsp[f"rows{i}"] / work:.2f} / value)'
        ok = ok and exact
        unit = 'MACs' if kind == 'fc' else 'values'
        print(f'| {label} | {work} {unit} | {portable[f"whole{i}"]} | {dsp[f"whole{i}"]} | '
              f'{portable[f"whole{i}"] / work:.2f} / {dsp[f"whole{i}"] / work:.2f} | {rows} | '
              f'{exact} |')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
