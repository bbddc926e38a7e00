"""RNNPool cell plans computed at export time (``rp_fastgrnn_plan`` / ``rp_rnnpool_plan``).

The kernel (``runtime/rp_rnnpool.c``) runs each FastGRNN cell from a *plan*: its per-unit
constants in the order its vectors are kept (the DSP build's pair layout, ``rp_simd.h``), the
biases folded into them, the choice of gate path, and on the DSP build W and U unpacked to int16
pairs. Those depend only on the weights, so they are computed here once and emitted as const
data (flash) instead of being rebuilt in scratch RAM on every call. The rules are the kernel's
``plan_cell()`` (kept in C under ``-DRP_RNNPOOL_SCRATCH_PLAN``); a test builds both and compares
the paths and the outputs.

The pair layout exists on the DSP build only, so both layouts are emitted, under
``#if RP_RNNPOOL_PAIR_LAYOUT`` (``rp_types.h``): a build compiles exactly one of them.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

Q14 = 1 << 14
PRE_LIMIT = 1 << 28
BIAS_LIMIT = 1 << 28
RNN_IN_LOG2 = 6
INT64_MAX = (1 << 63) - 1

# rp_fastgrnn_plan.flags (rp_types.h)
CELL_FAST = 1
CELL_W_FAST = 2
CELL_PAIRS = 4
CELL_TABLES = 8


def pair_index(i: int, n: int, pair_layout: bool) -> int:
    """``rp_pair_index``: where element ``i`` of an ``n``-vector is kept."""
    if pair_layout and i < (n & ~3) and (i & 3) in (1, 2):
        return i ^ 3
    return i


def _requant64(acc: int, mult: int, rshift: int) -> int:
    return (acc * mult + (1 << (rshift - 1))) >> rshift


def rows_fit(m: np.ndarray, mult: np.ndarray, rshift: np.ndarray, x_max: int) -> bool:
    """Whether every row of ``m`` times a vector bounded by ``x_max`` requantises on the 32-bit
    path without reaching the +-2^28 clamp (``rows_fit`` in C)."""
    if x_max > (1 << 24):
        return False
    for i in range(m.shape[0]):
        sh, mu = int(rshift[i]), int(mult[i])
        if sh < 33 or sh > 62 or mu < 0:
            return False
        bound = int(np.abs(m[i].astype(np.int64)).sum()) * x_max
        if abs(bound * mu) > INT64_MAX:  # C's int64 product would overflow: not provable
            return False
        if _requant64(bound, mu, sh) >= PRE_LIMIT - 1:
            return False
    return True


def unpack_blocks(w: np.ndarray) -> np.ndarray:
    """The DSP layout of an int8 ``[rows, n]`` matrix (``unpack_block`` in C): per 4 rows and
    4 columns ``j..j+3``, for each row the int32 words ``(w_j, w_j+2)`` and ``(w_j+1, w_j+3)``
    (low, high int16 halves)."""
    rows, n = w.shape
    out = []
    w = w.astype(np.int64)
    for r in range(0, rows - rows % 4, 4):
        for j in range(0, n - n % 4, 4):
            for k in range(4):
                for a, b in ((j, j + 2), (j + 1, j + 3)):
                    word = (int(w[r + k, a]) & 0xFFFF) | ((int(w[r + k, b]) & 0xFFFF) << 16)
                    out.append(word - (1 << 32) if word >= 1 << 31 else word)
    return np.array(out, dtype=np.int32)


@dataclass
class CellPlan:
    """One cell's plan for one layout (the fields of ``rp_fastgrnn_plan``)."""

    flags: int
    cst: np.ndarray      # int32 [hid, 4]
    w_mult: np.ndarray   # int32 [hid]
    w_sh: np.ndarray     # int32 [hid]
    wb: Optional[np.ndarray]  # int32, pair layout only
    ub: Optional[np.ndarray]

    @property
    def flash_bytes(self) -> int:
        """Bytes of its arrays (the struct itself aside)."""
        n = self.cst.size + self.w_mult.size + self.w_sh.size
        if self.wb is not None:
            n += max(self.wb.size, 1) + max(self.ub.size, 1)
        return 4 * n


def plan_cell(cell, x_max: int, pair_layout: bool, unpack: bool = True) -> CellPlan:
    """The plan of a ``FastGRNNCell`` whose ``W . x`` inputs are bounded by ``x_max``; with
    ``unpack`` (and the pair layout) W and U unpacked to int16 pairs (2 bytes of flash per
    weight; without, the DSP path splits the int8 words as it reads them)."""
    hid = cell.hidden_size
    tables = cell.sigmoid_table is not None and cell.tanh_table is not None
    fast = rows_fit(cell.u, cell.u_multiplier, cell.u_rshift, 32768)
    bg_all = cell.bias_gate.astype(np.int64)
    bu_all = cell.bias_update.astype(np.int64)
    fast = fast and bool(np.all(np.abs(bg_all) <= BIAS_LIMIT) and
                         np.all(np.abs(bu_all) <= BIAS_LIMIT))
    w_fast = rows_fit(cell.w, cell.w_multiplier, cell.w_rshift, x_max)
    zeta, nu = int(cell.zeta_q14), int(cell.nu_q14)
    # halfword products need -zeta and every coef (between nu and zeta + nu) in int16
    pairs = (fast and not tables and hid % 2 == 0 and -32767 <= zeta <= 32768 and
             -32768 <= nu <= 32767 and -32768 <= zeta + nu <= 32767)
    cst = np.zeros((hid, 4), np.int64)
    w_mult = np.zeros(hid, np.int64)
    w_sh = np.zeros(hid, np.int64)
    for p in range(hid):
        i = pair_index(p, hid, pair_layout)
        bg, bu = int(bg_all[i]), int(bu_all[i])
        cst[p, 0] = int(cell.u_multiplier[i])
        cst[p, 1] = int(cell.u_rshift[i]) - (33 if fast else 0)
        w_mult[p] = int(cell.w_multiplier[i])
        w_sh[p] = int(cell.w_rshift[i]) - (33 if w_fast else 0)
        if not fast:
            cst[p, 2:] = 0
        elif tables:
            cst[p, 3], cst[p, 2] = bg + 8 * Q14, bu - bg
        else:
            cst[p, 3], cst[p, 2] = bg + Q14, bu - bg - Q14
    flags = ((CELL_FAST if fast else 0) | (CELL_W_FAST if w_fast else 0) |
             (CELL_PAIRS if pairs else 0) | (CELL_TABLES if tables else 0))
    wb = unpack_blocks(cell.w) if pair_layout and unpack else None
    ub = unpack_blocks(cell.u) if pair_layout and unpack else None
    return CellPlan(flags, cst.astype(np.int32), w_mult.astype(np.int32),
                    w_sh.astype(np.int32), wb, ub)


def rnn1_x_max(input_offset: int) -> int:
    """Bound of RNN1's inputs ``(q - zp) * 64``."""
    return (128 + abs(int(input_offset))) << RNN_IN_LOG2


def plan_layer(layer, pair_layout: bool, unpack: bool = True) -> Dict[str, CellPlan]:
    """The plans of an RNNPool layer's cells (``rnn1``, ``rnn2``), for one layout. ``layer``
    is anything with ``rnn1``, ``rnn2`` and ``input_offset`` (RNNPool, last-layer RNNPool)."""
    return {'rnn1': plan_cell(layer.rnn1, rnn1_x_max(layer.input_offset), pair_layout, unpack),
            'rnn2': plan_cell(layer.rnn2, 32768, pair_layout, unpack)}


def plan_flash_bytes(layer, pair_layout: bool = True, unpack: bool = True) -> int:
    """Flash bytes of a layer's emitted plan (arrays + the ``rp_rnnpool_plan`` struct of a
    32-bit target), for one layout (the M4 build's by default)."""
    plans = plan_layer(layer, pair_layout, unpack)
    return sum(p.flash_bytes for p in plans.values()) + 4 + 2 * 24


def plan_scratch_bytes(layer) -> int:
    """Scratch bytes the plans took when the kernel built them on every call (its
    ``-DRP_RNNPOOL_SCRATCH_PLAN`` build; the bytes this module saves per layer)."""
    h1, h2, c = layer.rnn1.hidden_size, layer.rnn2.hidden_size, layer.rnn1.input_size
    pairs = sum((a * b + 1) // 2 for a, b in ((h1, c), (h1, h1), (h2, h1), (h2, h2)))
    return 24 * (h1 + h2) + 4 * pairs


def scratch_plan_bytes(layer) -> int:
    """``rp_rnnpool_get_buffer_size`` of the ``-DRP_RNNPOOL_SCRATCH_PLAN`` build."""
    return layer.scratch_bytes() + plan_scratch_bytes(layer)


def _array(name: str, values: np.ndarray) -> List[str]:
    flat = np.asarray(values, dtype=np.int64).reshape(-1)
    lines = [f'static const int32_t {name}[{max(flat.size, 1)}] __attribute__((aligned(4))) = {{']
    if flat.size == 0:
        lines.append('    0')
    for i in range(0, flat.size, 12):
        lines.append('    ' + ', '.join(str(int(v)) for v in flat[i:i + 12]) + ',')
    return lines + ['};']


def plan_ident(prefix: str) -> str:
    """Name of the ``rp_rnnpool_plan`` that :func:`emit_cell_plans` emits for ``prefix``."""
    return f'{prefix}_plan'


def plan_field(prefix: str) -> str:
    """The layer initialiser's designated field pointing at the plan."""
    return f'.plan = &{plan_ident(prefix)}'


def emit_cell_plans(layer, prefix: str, unpack: bool = True) -> List[str]:
    """C lines defining ``static const rp_rnnpool_plan <prefix>_plan`` (both layouts, one per
    ``RP_RNNPOOL_PAIR_LAYOUT``) for an RNNPool layer; ``prefix`` is a C identifier; ``unpack``:
    see :func:`plan_cell`."""
    lines: List[str] = []
    for pair_layout in (True, False):
        lines.append('#if RP_RNNPOOL_PAIR_LAYOUT' if pair_layout else '#else')
        plans = plan_layer(layer, pair_layout, unpack)
        fields = []
        for cell_name, plan in plans.items():
            p = f'{prefix}_{cell_name}_plan'
            lines += _array(f'{p}_cst', plan.cst)
            lines += _array(f'{p}_wm', plan.w_mult)
            lines += _array(f'{p}_ws', plan.w_sh)
            wb = ub = 'NULL'
            if plan.wb is not None:
                lines += _array(f'{p}_wb', plan.wb)
                lines += _array(f'{p}_ub', plan.ub)
                wb, ub = f'{p}_wb', f'{p}_ub'
            fields.append(f'    .{cell_name} = {{.flags = {plan.flags}, .cst = {p}_cst, '
                          f'.w_mult = {p}_wm, .w_sh = {p}_ws, .wb = {wb}, .ub = {ub}}},')
        lines += [f'static const rp_rnnpool_plan {plan_ident(prefix)} = {{',
                  f'    .pair_layout = {int(pair_layout)},'] + fields + ['};']
    lines.append('#endif')
    return lines


__all__ = ['pair_index', 'rows_fit', 'unpack_blocks', 'CellPlan', 'plan_cell', 'plan_layer',
           'plan_flash_bytes', 'plan_scratch_bytes', 'scratch_plan_bytes', 'plan_ident',
           'plan_field', 'emit_cell_plans', 'rnn1_x_max',
           'CELL_FAST', 'CELL_W_FAST', 'CELL_PAIRS', 'CELL_TABLES']
