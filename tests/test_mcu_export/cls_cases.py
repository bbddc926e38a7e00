"""Kernel cases of the classifier ops (GAP, FC, classify) as one C program + expected bytes.

Shared by the host test (``test_cls_kernels.py``) and the Cortex-M4 QEMU test: random shapes
with odd channel / feature counts, the DSP paths' tails and chunk limits, extreme codes and
offsets, a 64-bit requantisation branch, ties, and rejected arguments.
"""
from typing import List, Tuple

import numpy as np

from mcu_export.cemit import c_array
from mcu_export.ctest import ProgramBuilder
from mcu_export.ops.classify import ClassifyOp, exp_table_q15
from mcu_export.ops.gap import GapOp
from mcu_export.ops.linear import FC_MAX_IN, LinearOp
from mcu_export.quantize import ActQuant, quantize_multiplier, quantize_multipliers
from mcu_export.quantize_cls import quantize_gap


def random_gap(rng, name, shape, extreme=None, low_shift=False) -> Tuple[GapOp, np.ndarray]:
    h, w, c = shape
    zp_in = int(rng.integers(-128, 128))
    x = rng.integers(-128, 128, shape).astype(np.int8)
    if extreme == 'low':  # every centred value -255: the most negative sums
        zp_in, x = 127, np.full(shape, -128, np.int8)
    elif extreme == 'high':
        zp_in, x = -128, np.full(shape, 127, np.int8)
    in_q = ActQuant(float(rng.uniform(0.01, 0.1)), zp_in)
    out_q = ActQuant(in_q.scale * float(rng.uniform(0.3, 1.5)), int(rng.integers(-20, 21)))
    if low_shift:  # s_out so small that the multiplier's shift is < 33 (64-bit branch)
        out_q = ActQuant(in_q.scale / (h * w) * 0.9, 0)
    op = quantize_gap(name, shape, in_q, out_q)
    if extreme is None and rng.integers(0, 2):
        op.act_min = op.output_offset  # a fused ReLU
    return op, x


def random_linear(rng, name, n_in, n_out, extreme=False) -> Tuple[LinearOp, np.ndarray]:
    w = rng.integers(-128, 128, (n_out, n_in)).astype(np.int8)
    x = rng.integers(-128, 128, (1, 1, n_in)).astype(np.int8)
    off = int(rng.integers(-127, 129))
    bias = rng.integers(-(1 << 20), 1 << 20, n_out).astype(np.int32)
    # scale the typical accumulator (~sqrt(n) 74 * 74) to ~40 int8 steps, per row +- 2x
    scales = 40.0 / (np.sqrt(n_in) * 74 * 74) * rng.uniform(0.5, 2.0, n_out)
    mult, rshift = quantize_multipliers(scales)
    if extreme:  # the largest accumulators the runtime admits: (x - zp) = 255, w = -128
        w[:] = -128
        x[:] = 127
        off = 128
        bias[:] = -(1 << 28)
        mult[:], rshift[:] = quantize_multiplier(127.0 / (1 << 31))
    op = LinearOp(name, w, bias, mult, rshift, input_offset=off,
                  output_offset=int(rng.integers(-10, 11)))
    if not extreme and n_out > 2:
        op.bias = None if rng.integers(0, 2) else op.bias
        op.rshift[0] = 31  # one row on the 64-bit requantisation branch
        op.multiplier[0] = 1 << 30
        op.act_min = op.output_offset  # ReLU
    op.validate()
    return op, x


def random_classify(rng, name, n, scale=None, logits=None) -> Tuple[ClassifyOp, np.ndarray]:
    scale = float(rng.uniform(0.02, 0.3)) if scale is None else scale
    op = ClassifyOp(name, 'logits', n, exp_table_q15(scale))
    op.validate()
    x = rng.integers(-128, 128, (1, 1, n)).astype(np.int8) if logits is None else \
        np.asarray(logits, np.int8).reshape(1, 1, n)
    return op, x


def cls_program(seed: int = 1313, big: bool = True) -> Tuple[str, List[bytes]]:
    """The program and the expected bytes of every case, in output order."""
    rng = np.random.default_rng(seed)
    b = ProgramBuilder()
    expected: List[bytes] = []

    gaps = [random_gap(rng, f'gap{i}', s) for i, s in enumerate(
        [(1, 1, 1), (3, 5, 7), (7, 7, 33), (16, 16, 4), (17, 16, 5), (20, 24, 12), (2, 3, 1),
         (5, 1, 64)])]
    gaps += [random_gap(rng, 'gap_low', (19, 15, 9), extreme='low'),
             random_gap(rng, 'gap_high', (19, 15, 9), extreme='high'),
             random_gap(rng, 'gap_shift', (4, 6, 10), low_shift=True)]
    for i, (op, x) in enumerate(gaps):
        lines, ident = op.emit(f'g{i}')
        h, w, c = op.in_shape
        b.decls += lines + c_array(f'g{i}_in', x, np.int8)
        b.decls += [f'static int8_t g{i}_out[{c}];', f'static int32_t g{i}_sums[{c}];']
        # whole map, then streamed: two rows at once first, then one by one
        b.body += [f'check(rp_gap_s8(&{ident}, g{i}_in, g{i}_out), "{op.name}");',
                   f'emit(g{i}_out, {c});',
                   f'emit_u32((uint32_t)rp_gap_get_sums_size(&{ident}));',
                   f'check(rp_gap_s8_begin(&{ident}, g{i}_sums), "begin");']
        y0 = min(2, h)
        b.body.append(f'check(rp_gap_s8_add_rows(&{ident}, g{i}_sums, g{i}_in, {y0}), "rows");')
        for y in range(y0, h):
            b.body.append(f'check(rp_gap_s8_add_row(&{ident}, g{i}_sums, g{i}_in + '
                          f'{y * w * c}), "row");')
        b.body += [f'check(rp_gap_s8_finish(&{ident}, g{i}_sums, g{i}_out), "finish");',
                   f'emit(g{i}_out, {c});']
        y = op.reference([x]).tobytes()
        expected += [y, np.uint32(op.sums_bytes()).tobytes(), y]

    fcs = [random_linear(rng, f'fc{i}', n_in, n_out) for i, (n_in, n_out) in enumerate(
        [(1, 1), (3, 2), (4, 1), (7, 5), (16, 8), (33, 7), (64, 3), (100, 10), (1280, 2)])]
    if big:
        fcs.append(random_linear(rng, 'fc_extreme', FC_MAX_IN, 2, extreme=True))
    for i, (op, x) in enumerate(fcs):
        lines, ident = op.emit(f'f{i}')
        b.decls += lines + c_array(f'f{i}_in', x, np.int8)
        b.decls.append(f'static int8_t f{i}_out[{op.out_features}];')
        b.body += [f'check(rp_fc_s8(&{ident}, f{i}_in, f{i}_out), "{op.name}");',
                   f'emit(f{i}_out, {op.out_features});']
        expected.append(op.reference([x]).tobytes())

    tie = np.full(9, -5, np.int8)
    tie[[3, 7]] = 40
    cls = [random_classify(rng, f'cls{i}', n) for i, n in enumerate([1, 2, 3, 10, 1001])]
    cls += [random_classify(rng, 'cls_tie', 9, logits=tie),
            random_classify(rng, 'cls_flat', 4, logits=[-128] * 4),
            random_classify(rng, 'cls_sharp', 6, scale=2.0),          # table mostly zeros
            random_classify(rng, 'cls_extreme', 5, scale=0.5, logits=[-128, 127, 0, 127, -1]),
            random_classify(rng, 'cls_soft', 7, scale=1e-4)]          # table all ~32768
    for i, (op, x) in enumerate(cls):
        lines, ident = op.emit(f'k{i}')
        n = op.num_classes
        b.decls += lines + c_array(f'k{i}_in', x, np.int8)
        b.decls += op.output_decls(f'k{i}_out')
        b.body += [f'check({op.c_call(ident, [f"k{i}_in"], f"k{i}_out", None)}, "{op.name}");',
                   f'emit_u32((uint32_t)k{i}_out_label);', f'emit(k{i}_out, {2 * n});',
                   f'k{i}_out_label = -1;',
                   f'check(rp_classify_s8(&{ident}, k{i}_in, NULL, &k{i}_out_label), "label");',
                   f'emit_u32((uint32_t)k{i}_out_label);']
        label, scores = op.classify(x)
        lab = np.uint32(label).tobytes()
        expected += [lab + scores.astype('<i2').tobytes() + lab]

    # rejected arguments: each must return RP_ARG_ERROR
    g_ident, f_ident, k_ident = 'g1', 'f3', 'k1'
    rejects = [
        f'rp_gap_s8(&{g_ident}, NULL, g1_out)',
        f'rp_gap_s8_add_rows(&{g_ident}, g1_sums, g1_in, {gaps[1][0].in_shape[0] + 1})',
        f'rp_gap_s8_finish(&{g_ident}, NULL, g1_out)',
        f'rp_gap_s8_begin(&bad_gap, g1_sums)',
        f'rp_fc_s8(&{f_ident}, NULL, f3_out)',
        f'rp_fc_s8(&bad_fc, f3_in, f3_out)',
        f'rp_classify_s8(&bad_cls, k1_in, k1_out, &k1_out_label)',
        f'rp_classify_s8(&{k_ident}, k1_in, k1_out, NULL)',
    ]
    b.decls += ['static const int32_t zero_table[256] = {0};']
    b.body += ['{', f'    rp_gap_layer bad_gap = {g_ident}; bad_gap.in.h = RP_GAP_MAX_PIXELS;',
               f'    rp_fc_layer bad_fc = {f_ident}; bad_fc.in_features = RP_FC_MAX_IN + 1;',
               f'    rp_classify_layer bad_cls = {k_ident}; bad_cls.exp_q15 = zero_table;']
    for i, call in enumerate(rejects):
        b.body.append(f'    check({call} == RP_ARG_ERROR ? RP_OK : RP_NO_IMPL, "reject {i}");')
    b.body += ['    emit_u32(0x600DC0DEu);', '}']
    expected.append(np.uint32(0x600DC0DE).tobytes())
    return b.source(), expected
