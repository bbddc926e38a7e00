"""QEMU instructions per MAdd of each runtime kernel on the Cortex-M4: DSP path vs portable C.

Every kernel runs on shapes of the paper's MCU face detectors (random int8 weights) in one
program built twice for mps2-an386 with arm-none-eabi-gcc -O2: as is (``__ARM_FEATURE_DSP``:
SMLAD / SXTB16 / SXTAB16 paths) and with ``-DRP_NO_DSP`` (the portable C path, compiled for the
same core). Instructions are counted under ``-icount shift=0`` with the FPGAIO counter (1 tick =
40 instructions); the program also checks that both builds give identical outputs (a checksum).
Instructions are not cycles: an M4 cycle estimate is instructions x CPI (about 1.2-1.6).

Usage:
    python benchmarks/mcu_kernels.py
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcu_export.cemit import c_array, emit_layer  # noqa: E402
from mcu_export.codegen import RUNTIME_DIR, TEMPLATE_DIR  # noqa: E402
from mcu_export.ctest import arm_toolchain_missing  # noqa: E402
from mcu_export.random_model import random_conv, random_mbconv, random_rnnpool  # noqa: E402


def cases(rng):
    """(label, layer, call) for each kernel; call formats the C call with the case prefix."""
    out = [
        # Face-Quant's regular convs at their real widths (16-17 output rows each)
        ('conv 3x3 s2, 3 -> 4 (stem, 640 wide)',
         random_conv(rng, 'stem', (33, 640, 3), 4, (3, 3), (2, 2), (1, 1), act='relu',
                     pad_values=True)),
        ('conv 3x3, 4 -> 4 (stem, 320 wide)',
         random_conv(rng, 'stem2', (16, 320, 4), 4, (3, 3), act='relu')),
        ('conv 3x3 s2, 4 -> 4 (head source, 320 wide)',
         random_conv(rng, 'src', (32, 320, 4), 4, (3, 3), (2, 2), (1, 1))),
        ('conv 3x3, 4 -> 4 (head loc, 160 wide)', random_conv(rng, 'hl', (16, 160, 4), 4, (3, 3))),
        ('conv 3x3, 4 -> 2 (head conf, 160 wide)', random_conv(rng, 'hc', (16, 160, 4), 2, (3, 3))),
        ('conv 3x3, 16 -> 4 (head loc, 80 wide)',
         random_conv(rng, 'head', (16, 80, 16), 4, (3, 3))),
        ('conv 3x3, 16 -> 2 (head conf, 80 wide)',
         random_conv(rng, 'headc', (16, 80, 16), 2, (3, 3))),
        ('pointwise 32 -> 64', random_conv(rng, 'pw', (15, 40, 32), 64, (1, 1), (1, 1), (0, 0),
                                           act='relu')),
        ('pointwise 64 -> 16', random_conv(rng, 'pj', (15, 40, 64), 16, (1, 1), (1, 1), (0, 0))),
        ('depthwise 3x3, 64 ch', random_conv(rng, 'dw', (15, 40, 64), 0, (3, 3), (1, 1), (1, 1),
                                             depthwise=True, act='relu6')),
        ('depthwise 3x3, 4 ch (stem)', random_conv(rng, 'dw4', (30, 80, 4), 0, (3, 3), (1, 1),
                                                   (1, 1), depthwise=True)),
        ('MBConv 16 -> 32 -> 16 + res', random_mbconv(rng, 'mb', (15, 40, 16), 16, expand=2)),
        ('RNNPool 8x8/4, C4 h8 h8 (quant), 1 patch row', random_rnnpool(rng, 'rq', (8, 84, 4),
                                                                         8, 8)),
        ('RNNPool 8x8/4, C4 h16 h16 (tables), 1 patch row',
         random_rnnpool(rng, 'rm', (8, 84, 4), 16, 16, tables=True)),
        # several patch rows: the row cache shares the row summaries of vertical neighbours
        ('RNNPool 8x8/4, C4 h8 h8 (quant), 6 patch rows',
         random_rnnpool(rng, 'rq6', (28, 84, 4), 8, 8)),
        ('RNNPool 8x8/4, C4 h16 h16 (tables), 6 patch rows',
         random_rnnpool(rng, 'rm6', (28, 84, 4), 16, 16, tables=True)),
    ]
    return out


def call(layer, p, ident):
    kind = type(layer).__name__
    if kind == 'MBConvLayer':
        return f'rp_mbconv_s8(&{ident}, scratch, sizeof scratch, {p}_in, {p}_out)'
    if kind == 'RNNPoolLayer':
        return f'rp_rnnpool_s8(&{ident}, scratch, sizeof scratch, {p}_in, {p}_out)'
    fn = 'rp_dwconv_s8' if layer.depthwise else (
        'rp_pwconv_s8' if layer.is_pointwise else 'rp_conv_s8')
    return f'{fn}(&{ident}, {p}_in, {p}_out)'


PRELUDE = """\
#include <stdint.h>
#include "rp_nn.h"
static int32_t sh_call(int32_t op, void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
static void put_u32(uint32_t k, uint32_t v, uint32_t sum)
{
    char buf[48];
    int n = 0;
    uint32_t vals[3] = {k, v, sum};
    for (int i = 0; i < 3; i++) {
        char tmp[12];
        int m = 0;
        do { tmp[m++] = (char)('0' + vals[i] % 10u); vals[i] /= 10u; } while (vals[i]);
        while (m) buf[n++] = tmp[--m];
        buf[n++] = i < 2 ? ' ' : '\\n';
    }
    buf[n] = 0;
    (void)sh_call(0x04, buf);
}
static uint32_t checksum(const int8_t *p, int32_t n)
{
    uint32_t h = 2166136261u;
    for (int32_t i = 0; i < n; i++) { h = (h ^ (uint8_t)p[i]) * 16777619u; }
    return h;
}
#define COUNTER (*(volatile uint32_t *)0x40028018u)
static uint32_t scratch[4096];
"""


def program(layers):
    src = [PRELUDE]
    body = []
    for k, layer in enumerate(layers):
        p = f'k{k}'
        lines, ident = emit_layer(layer, p)
        rng = np.random.default_rng(k)
        x = rng.integers(-128, 128, layer.in_shape).astype(np.int8)
        n_out = int(np.prod(layer.out_shape))
        src += lines + c_array(f'{p}_in', x, np.int8) + [f'static int8_t {p}_out[{n_out}];']
        body += ['    {', '        const uint32_t t0 = COUNTER;',
                 f'        if ({call(layer, p, ident)} != RP_OK) {{ return 1; }}',
                 '        const uint32_t t1 = COUNTER;',
                 f'        put_u32({k}u, (t1 - t0) * 40u, checksum({p}_out, {n_out}));', '    }']
    return '\n'.join(src + ['int main(void)', '{'] + body + ['    return 0;', '}'])


def run(source, work, extra):
    work.mkdir(parents=True, exist_ok=True)
    (work / 'bench.c').write_text(source)
    elf = work / 'bench.elf'
    flags = ['-std=c99', '-O2', '-mcpu=cortex-m4', '-mthumb', '-mfloat-abi=hard',
             '-mfpu=fpv4-sp-d16', '-ffp-contract=off', f'-I{RUNTIME_DIR}', *extra]
    subprocess.run(['arm-none-eabi-gcc', *flags, str(work / 'bench.c'),
                    *map(str, sorted(RUNTIME_DIR.glob('*.c'))), str(TEMPLATE_DIR / 'startup_m4.S'),
                    '-nostartfiles', '--specs=nano.specs', '-T',
                    str(TEMPLATE_DIR / 'mps2_an386.ld'), '-Wl,--defsym=__ram_budget=4194304',
                    '-o', str(elf)], check=True)
    proc = subprocess.run(['qemu-system-arm', '-M', 'mps2-an386', '-cpu', 'cortex-m4',
                           '-nographic', '-monitor', 'none', '-serial', 'none', '-icount',
                           'shift=0', '-chardev', 'stdio,id=semi', '-semihosting-config',
                           'enable=on,target=native,chardev=semi', '-kernel', str(elf)],
                          capture_output=True, text=True, timeout=300, check=True)
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    return {int(k): (int(v), int(s)) for k, v, s in rows}


def main():
    reason = arm_toolchain_missing()
    if reason:
        print(f'skipped: {reason}')
        return
    rng = np.random.default_rng(0)
    named = cases(rng)
    layers = [layer for _, layer in named]
    src = program(layers)
    with tempfile.TemporaryDirectory() as tmp:
        dsp = run(src, Path(tmp) / 'dsp', [])
        portable = run(src, Path(tmp) / 'portable', ['-DRP_NO_DSP'])
    print('| kernel | MAdds | portable instr / MAdd | DSP instr / MAdd | speed-up | same output |')
    print('|---|---|---|---|---|---|')
    for k, (label, layer) in enumerate(named):
        madds = layer.madds
        (pi, ps), (di, ds) = portable[k], dsp[k]
        print(f'| {label} | {madds} | {pi / madds:.2f} | {di / madds:.2f} | {pi / di:.2f}x | '
              f'{ps == ds} |')


if __name__ == '__main__':
    main()
