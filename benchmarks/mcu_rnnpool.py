"""RNNPool on the Cortex-M4: fixed point (the runtime's kernel) vs float on the FPU, in QEMU.

Builds one bare-metal program for QEMU mps2-an386 that runs RNNPool over a few 8x8 patches
with (a) ``rp_rnnpool_s8_patch`` (int8 weights, int16 Q14 state, integer quantSigmoid /
quantTanh) and (b) a float32 FastGRNN written here for the comparison (same maths, weights
dequantised to float, hard-float FPU, the same piecewise-linear nonlinearities), and prints
QEMU instructions per patch (``-icount shift=0``, FPGAIO counter x 40). It also runs the
whole-map kernel ``rp_rnnpool_s8`` (patch rows through ``rp_rnnpool_s8_row_at``, as the
streamed front-end does) over a 28x84 map (6 x 20 patches, stride 4) with the minimum buffer
(column summaries shared along a patch row) and with the full buffer (plus the row cache:
row summaries shared between patch rows), per patch. MAdds are nominal (every recurrence step
of every patch), so shared work lowers instructions per MAdd. QEMU counts instructions, not
cycles: an M4 cycle estimate is instructions x CPI (about 1.2-1.6).

Usage: python benchmarks/mcu_rnnpool.py
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcu_export.cemit import c_array, emit_rnnpool  # noqa: E402
from mcu_export.codegen import RUNTIME_DIR, TEMPLATE_DIR  # noqa: E402
from mcu_export.ctest import arm_toolchain_missing  # noqa: E402
from mcu_export.random_model import random_rnnpool  # noqa: E402
from mcu_export.rnnpool_plan import plan_flash_bytes  # noqa: E402

N_PATCHES = 16

FLOAT_KERNEL = r"""
typedef struct { int in, hid; const float *w, *u, *bg, *bu; float zeta, nu; } fcell;
static float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }
static void fstep(const fcell *c, const float *x, const float *h, float *hn)
{
    for (int i = 0; i < c->hid; i++) {
        float a = 0.0f;
        for (int j = 0; j < c->in; j++) a += c->w[i * c->in + j] * x[j];
        for (int j = 0; j < c->hid; j++) a += c->u[i * c->hid + j] * h[j];
        float z = clampf((a + c->bg[i]) * 0.5f + 0.5f, 0.0f, 1.0f);
        float ht = clampf(a + c->bu[i], -1.0f, 1.0f);
        hn[i] = z * h[i] + (c->zeta * (1.0f - z) + c->nu) * ht;
    }
}
static void fseq(const fcell *c, const float *xs, int stride, int len, int rev, float *h, float *t)
{
    for (int i = 0; i < c->hid; i++) h[i] = 0.0f;
    for (int s = 0; s < len; s++) {
        fstep(c, xs + (rev ? len - 1 - s : s) * stride, h, t);
        for (int i = 0; i < c->hid; i++) h[i] = t[i];
    }
}
static float f_rows[8 * 64], f_cols[8 * 64], f_xs[8 * 64], f_h[64], f_t[64];
static void float_patch(const fcell *c1, const fcell *c2, const int8_t *img, int w, int ch,
                        int col0, float in_scale, int zp, int8_t *out, float out_scale, int ozp)
{
    for (int r = 0; r < 8; r++) {
        for (int t = 0; t < 8; t++)
            for (int k = 0; k < ch; k++)
                f_xs[t * ch + k] = in_scale * (float)(img[(r * w + col0 + t) * ch + k] - zp);
        fseq(c1, f_xs, ch, 8, 0, f_rows + r * c1->hid, f_t);
    }
    for (int q = 0; q < 8; q++) {
        for (int t = 0; t < 8; t++)
            for (int k = 0; k < ch; k++)
                f_xs[t * ch + k] = in_scale * (float)(img[(t * w + col0 + q) * ch + k] - zp);
        fseq(c1, f_xs, ch, 8, 0, f_cols + q * c1->hid, f_t);
    }
    for (int s = 0; s < 4; s++) {
        fseq(c2, s < 2 ? f_rows : f_cols, c1->hid, 8, s & 1, f_h, f_t);
        for (int i = 0; i < c2->hid; i++) {
            float v = f_h[i] / out_scale;
            int q = (int)(v + (v >= 0 ? 0.5f : -0.5f)) + ozp;
            out[s * c2->hid + i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
        }
    }
}
"""

MAIN = r"""
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
    char tmp[12];
    int k = 0;
    do { tmp[k++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    while (k) buf[n++] = tmp[--k];
    buf[n++] = '\n';
    buf[n] = 0;
    (void)sh_call(0x04, buf);
}
#define COUNTER (*(volatile uint32_t *)0x40028018u)
static uint32_t scratch[8192];
static int8_t out[64];
static int8_t map[MAP_PATCHES * 64];
volatile int8_t sink;
int main(void)
{
    const int8_t *rows[8];
    uint32_t t0 = COUNTER;
    for (int p = 0; p < NP; p++) {
        for (int r = 0; r < 8; r++) rows[r] = img + r * IMG_W * CH;
        const int col0 = p % (IMG_W - 7);
        if (rp_rnnpool_s8_patch(&pool, scratch, sizeof scratch, rows, col0, out) != RP_OK)
            return 1;
        sink = out[0];
    }
    uint32_t t1 = COUNTER;
    for (int p = 0; p < NP; p++) {
        float_patch(&fc1, &fc2, img, IMG_W, CH, p % (IMG_W - 7), IN_SCALE, IN_ZP, out,
                    OUT_SCALE, OUT_ZP);
        sink = out[0];
    }
    uint32_t t2 = COUNTER;
    if (rp_rnnpool_s8(&pool, scratch, rp_rnnpool_get_min_buffer_size(&pool), img, map) != RP_OK)
        return 1;
    uint32_t t3 = COUNTER;
    if (rp_rnnpool_s8(&pool, scratch, rp_rnnpool_get_buffer_size(&pool), img, map) != RP_OK)
        return 1;
    uint32_t t4 = COUNTER;
    put_u32("fixed ", (t1 - t0) * 40u / NP);
    put_u32("float ", (t2 - t1) * 40u / NP);
    put_u32("rowmin ", (t3 - t2) * 40u / MAP_PATCHES);
    put_u32("rowcache ", (t4 - t3) * 40u / MAP_PATCHES);
    put_u32("rowmin_call ", (t3 - t2) * 40u / MAP_ROWS);
    put_u32("rowcache_call ", (t4 - t3) * 40u / MAP_ROWS);
    put_u32("scratch ", (uint32_t)rp_rnnpool_get_buffer_size(&pool));
    put_u32("minscratch ", (uint32_t)rp_rnnpool_get_min_buffer_size(&pool));
    /* the two compute the same maths: outputs of patch 0 agree within a few int8 steps */
    int8_t a[64], b[64];
    uint32_t maxdiff = 0;
    for (int r = 0; r < 8; r++) rows[r] = img + r * IMG_W * CH;
    if (rp_rnnpool_s8_patch(&pool, scratch, sizeof scratch, rows, 0, a) != RP_OK) return 1;
    float_patch(&fc1, &fc2, img, IMG_W, CH, 0, IN_SCALE, IN_ZP, b, OUT_SCALE, OUT_ZP);
    for (int i = 0; i < 4 * pool.rnn2.hidden_size; i++) {
        uint32_t d = (uint32_t)(a[i] > b[i] ? a[i] - b[i] : b[i] - a[i]);
        maxdiff = d > maxdiff ? d : maxdiff;
    }
    put_u32("maxdiff ", maxdiff);
    return 0;
}
"""


def float_cell(name, cell, in_scale):
    """C source of a float copy of a fixed-point cell (dequantised weights)."""
    w = cell.w * (cell.w_multiplier / 2.0**cell.w_rshift)[:, None] / (in_scale * 16384)
    u = cell.u * (cell.u_multiplier / 2.0**cell.u_rshift)[:, None]
    lines = []
    for key, arr in (('w', w), ('u', u), ('bg', cell.bias_gate / 16384),
                     ('bu', cell.bias_update / 16384)):
        vals = ', '.join(f'{v:.8e}f' for v in np.ravel(arr))
        lines.append(f'static const float {name}_{key}[] = {{{vals}}};')
    lines.append(f'static const fcell {name} = {{{cell.input_size}, {cell.hidden_size}, '
                 f'{name}_w, {name}_u, {name}_bg, {name}_bu, {cell.zeta_q14 / 16384:.8e}f, '
                 f'{cell.nu_q14 / 16384:.8e}f}};')
    return lines


SETTINGS = (  # name, (C, h1, h2), the exported layer's input (h, w): stem output
    ('Face-Quant', (4, 8, 8), (240, 320)),
    ('Face-M4', (4, 16, 16), (120, 160)),
)
MAP_ROWS = 3  # patch rows of the measured map (16 input rows at the layer's full width)


def build_and_run(src: str, work: Path, name: str, extra_flags) -> dict:
    """Builds ``src`` with the runtime for mps2-an386, runs it in QEMU; the printed values and
    the ELF's flash bytes (text + data) and plan data bytes."""
    main = work / f'{name}.c'
    main.write_text(src)
    elf = work / f'{name}.elf'
    flags = ['-std=c99', '-O2', '-mcpu=cortex-m4', '-mthumb', '-mfloat-abi=hard',
             '-mfpu=fpv4-sp-d16', '-ffp-contract=off', f'-I{RUNTIME_DIR}', *extra_flags]
    subprocess.run(['arm-none-eabi-gcc', *flags, str(main), *map(str, RUNTIME_DIR.glob('*.c')),
                    str(TEMPLATE_DIR / 'startup_m4.S'), '-nostartfiles', '--specs=nano.specs',
                    '-T', str(TEMPLATE_DIR / 'mps2_an386.ld'), '-o', str(elf)], check=True)
    proc = subprocess.run(['qemu-system-arm', '-M', 'mps2-an386', '-cpu', 'cortex-m4',
                           '-nographic', '-monitor', 'none', '-serial', 'none', '-icount',
                           'shift=0', '-chardev', 'stdio,id=semi', '-semihosting-config',
                           'enable=on,target=native,chardev=semi', '-kernel', str(elf)],
                          capture_output=True, text=True, timeout=300, check=True)
    vals = {k: int(v) for k, v in (line.split() for line in proc.stdout.splitlines())}
    size = subprocess.run(['arm-none-eabi-size', str(elf)], capture_output=True, text=True,
                          check=True).stdout.splitlines()[1].split()
    vals['flash'] = int(size[0]) + int(size[1])
    nm = subprocess.run(['arm-none-eabi-nm', '-S', str(elf)], capture_output=True, text=True,
                        check=True).stdout.splitlines()
    vals['plan_data'] = sum(int(f[1], 16) for f in (line.split() for line in nm)
                            if len(f) == 4 and f[2] in 'rRdD' and '_plan' in f[3])
    return vals


def measure(channels, h1, h2, map_w, work):
    """Both builds of one setting: 'after' (plans in flash), 'before' (-DRP_RNNPOOL_SCRATCH_PLAN:
    plans rebuilt in the scratch on every call, the kernel before issue 13)."""
    rng = np.random.default_rng(0)
    img_h, img_w = 8 + 4 * (MAP_ROWS - 1), map_w
    layer = random_rnnpool(rng, 'pool', (img_h, img_w, channels), h1, h2, (8, 8), (4, 4))
    in_scale = 0.05 / 64  # random_rnnpool's RNN1 scale: (q - zp) * 64 steps of 0.05 / 64
    lines, _ = emit_rnnpool(layer, 'pool')
    img = rng.integers(-128, 128, (img_h, img_w, channels)).astype(np.int8)
    n_map = layer.out_shape[0] * layer.out_shape[1]
    src = ['#include <stdint.h>', '#include "rp_nn.h"', f'#define NP {N_PATCHES}',
           f'#define MAP_PATCHES {n_map}', f'#define MAP_ROWS {layer.out_shape[0]}',
           f'#define IMG_W {img_w}', f'#define CH {channels}', f'#define IN_SCALE {in_scale * 64}f',
           f'#define IN_ZP {-layer.input_offset}', '#define OUT_SCALE 0.01f',
           f'#define OUT_ZP {layer.output_offset}'] + lines + c_array('img', img, np.int8)
    src += [FLOAT_KERNEL] + float_cell('fc1', layer.rnn1, in_scale) + float_cell(
        'fc2', layer.rnn2, 1.0 / 16384) + [MAIN]
    src = '\n'.join(src)
    after = build_and_run(src, work, 'after', [])
    before = build_and_run(src, work, 'before', ['-DRP_RNNPOOL_SCRATCH_PLAN'])
    madds = layer.madds // n_map
    return after, before, madds, layer


LAST_MAIN = r"""
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
    char tmp[12];
    int k = 0;
    do { tmp[k++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    while (k) buf[n++] = tmp[--k];
    buf[n++] = '\n';
    buf[n] = 0;
    (void)sh_call(0x04, buf);
}
#define COUNTER (*(volatile uint32_t *)0x40028018u)
static uint32_t state[LAST_WORDS];
static int8_t out[LAST_OUT];
volatile int8_t sink;
int main(void)
{
    const uint32_t size = (uint32_t)rp_rnnpool_last_get_buffer_size(&last);
    uint32_t t0 = COUNTER;
    if (rp_rnnpool_last_s8_begin(&last, state, size) != RP_OK) return 1;
    for (int32_t y = 0; y < LAST_H; y++) {
        if (rp_rnnpool_last_s8_row(&last, state, size, y, map + y * LAST_W * LAST_C) != RP_OK)
            return 1;
    }
    uint32_t t1 = COUNTER;
    if (rp_rnnpool_last_s8_end(&last, state, size, out) != RP_OK) return 1;
    uint32_t t2 = COUNTER;
    sink = out[0];
    put_u32("rows ", (t1 - t0) * 40u);
    put_u32("end ", (t2 - t1) * 40u);
    put_u32("state ", size);
    return 0;
}
"""

LAST_SETTINGS = (  # name, last map (h, w, c), h1 = h2
    ('VWW 224 px', (7, 7, 320), 80),
    ('VWW 96 px', (3, 3, 320), 80),
)


def measure_last(shape, hidden, unpack, work):
    """The last-layer RNNPool fed row by row (rp_rnnpool_last_s8_*) in QEMU."""
    from mcu_export.ops.rnnpool import FastGRNNCell
    from mcu_export.ops.rnnpool_last import RNNPoolLastLayer
    from mcu_export.quantize import quantize_multipliers
    from mcu_export.random_model import random_cell

    rng = np.random.default_rng(0)

    def cell(i, h, scale):
        c = random_cell(rng, i, h, scale)
        return FastGRNNCell(**{k: getattr(c, k) for k in c.__dataclass_fields__})

    om, osh = quantize_multipliers([1.0 / (16384 * 0.01)])
    layer = RNNPoolLastLayer(name='last', in_shape=shape, input_offset=-3,
                             rnn1=cell(shape[2], hidden, 0.05 / 64),
                             rnn2=cell(hidden, hidden, 0.5 / 16384),
                             output_multiplier=int(om[0]), output_rshift=int(osh[0]),
                             output_offset=0, unpack_weights=unpack)
    lines, _ = layer.emit('last')
    x = rng.integers(-128, 128, shape).astype(np.int8)
    src = ['#include <stdint.h>', '#include "rp_nn.h"', f'#define LAST_H {shape[0]}',
           f'#define LAST_W {shape[1]}', f'#define LAST_C {shape[2]}',
           f'#define LAST_OUT {layer.out_shape[2]}',
           f'#define LAST_WORDS {layer.scratch_bytes() // 4 + 1}'] + lines
    src += c_array('map', x, np.int8) + [LAST_MAIN]
    vals = build_and_run('\n'.join(src), work, 'last', [])
    return vals, layer


def main():
    reason = arm_toolchain_missing()
    if reason:
        print(reason)
        return 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (c, h1, h2), (in_h, in_w) in SETTINGS:
            rows.append((name, c, h1, h2, in_h, in_w) + measure(c, h1, h2, in_w, Path(tmp)))
    print('| patch 8x8 | C | h1 | h2 | MAdds/patch | float instr/patch | fixed, one patch | '
          'fixed, rows (min buffer) | fixed, rows + row cache | instr/MAdd float / one / rows / '
          '+ cache | scratch B (full) | max out diff (int8 steps) |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|')
    for name, c, h1, h2, _, _, v, _, madds, _ in rows:
        per = ' / '.join(f'{v[k] / madds:.2f}' for k in ('float', 'fixed', 'rowmin', 'rowcache'))
        print(f'| {name} | {c} | {h1} | {h2} | {madds} | {v["float"]} | {v["fixed"]} | '
              f'{v["rowmin"]} | {v["rowcache"]} | {per} | {v["scratch"]} | {v["maxdiff"]} |')
    print()
    print('Cell plans: rebuilt in the scratch on every call (before, -DRP_RNNPOOL_SCRATCH_PLAN) '
          'vs computed at export time and kept in flash (after).')
    print()
    print('| setting | layer in -> out | scratch B full before / after | scratch B min before / '
          'after | one patch instr before / after | one row call instr (min buffer) before / '
          'after | per layer (out_h row calls) instr saved | plan data B (flash) | '
          'firmware flash B before / after (before: without the plan data it ignores) |')
    print('|---|---|---|---|---|---|---|---|---|')
    for name, c, h1, h2, in_h, in_w, a, b, _, layer in rows:
        out_h = (in_h - 8) // 4 + 1
        out_w = (in_w - 8) // 4 + 1
        saved_call = b['rowmin_call'] - a['rowmin_call']
        print(f'| {name} | {in_w}x{in_h}x{c} -> {out_w}x{out_h}x{4 * h2} | '
              f'{b["scratch"]} / {a["scratch"]} | {b["minscratch"]} / {a["minscratch"]} | '
              f'{b["fixed"]} / {a["fixed"]} | {b["rowmin_call"]} / {a["rowmin_call"]} | '
              f'{saved_call} x {out_h} = {saved_call * out_h} | {a["plan_data"]} '
              f'(python: {plan_flash_bytes(layer)}) | {b["flash"] - b["plan_data"]} / '
              f'{a["flash"]} |')
    print()
    print('Last-layer RNNPool (the whole map as one patch, fed row by row; random weights, '
          'quantSigmoid / quantTanh):')
    print()
    print('| setting | map | h1 = h2 | plan weights | MAdds | instr rows (RNN1) | '
          'instr end (RNN2) | instr / MAdd | state + scratch B | plan data B (flash) |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape, hidden in LAST_SETTINGS:
            for unpack in (False, True):
                v, layer = measure_last(shape, hidden, unpack, Path(tmp))
                total = v['rows'] + v['end']
                print(f'| {name} | {shape[1]}x{shape[0]}x{shape[2]} | {hidden} | '
                      f'{"int16 pairs" if unpack else "int8 (split on read)"} | {layer.madds} | '
                      f'{v["rows"]} | {v["end"]} | {total / layer.madds:.2f} | {v["state"]} | '
                      f'{v["plan_data"]} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
