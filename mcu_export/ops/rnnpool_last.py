"""Last-layer RNNPool (``rp_rnnpool.c``'s ``rp_rnnpool_last_s8*``): the RNNPool paper's RNNPool
over the whole last map as one patch, the classifiers' global pooling (Visual Wake Words'
MobileNetV2-0.35x: 7 x 7 x 320, h1 = h2 = 80).

It consumes the map row by row as it is produced (a stream sink), so the map never exists
whole: RNN1 runs over each row as it arrives (the row summary is kept), the column RNN1s advance
one step per row (their int16 states kept, ``w x h1``), and after the last row RNN2 runs over
the row summaries and the column summaries, forwards and backwards. The output, ``(1, 1, 4 *
h2)`` int8 in the order rows fwd, rows bwd, columns fwd, columns bwd, is the RNNPool op's with
``patch = stride = (h, w)`` (``mmdet_rnnpool``'s ``RNNPoolNeck`` sets the patch so), same
requantisation, and the integer reference here computes it the streamed way (tested equal to
the RNNPool op's reference on the whole map).
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..rnnpool_plan import emit_cell_plans, plan_ident
from .base import Op, Shape, align4, c_dims, c_ident, c_struct, register_op
from .intmath import Q14, requantize, to_int8
from .rnnpool import PRE_LIMIT, RNN_IN_SCALE, FastGRNNCell, RNNPoolLayer, act_table

#: The kernel's limits (``rp_nn.h``'s ``RP_RNNPOOL_LAST_MAX_*``: W . x and U . h stay inside
#: int32); ``test_rnnpool_last.py`` compiles them and compares.
LAST_MAX_HIDDEN = 256
LAST_MAX_CHANNELS = 1024


def fastgrnn_step(cell: FastGRNNCell, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One FastGRNN step for a batch: int64 inputs ``x (n, input_size)`` (already offset /
    Q14) and states ``h (n, hidden)``; returns the new states (the kernel's formulas)."""
    pw = np.clip(requantize(x @ cell.w.astype(np.int64).T, cell.w_multiplier, cell.w_rshift),
                 -PRE_LIMIT, PRE_LIMIT)
    pu = np.clip(requantize(h @ cell.u.astype(np.int64).T, cell.u_multiplier, cell.u_rshift),
                 -PRE_LIMIT, PRE_LIMIT)
    pre = pw + pu
    bg, bu = cell.bias_gate.astype(np.int64), cell.bias_update.astype(np.int64)
    if cell.sigmoid_table is not None and cell.tanh_table is not None:
        z, ht = act_table(cell.sigmoid_table, pre + bg), act_table(cell.tanh_table, pre + bu)
    else:
        z, ht = np.clip((pre + bg + Q14) >> 1, 0, Q14), np.clip(pre + bu, -Q14, Q14)
    coef = ((int(cell.zeta_q14) * (Q14 - z)) >> 14) + int(cell.nu_q14)
    return np.clip((z * h + coef * ht + (1 << 13)) >> 14, -32768, 32767)


def run_cell(cell: FastGRNNCell, xs: np.ndarray) -> np.ndarray:
    """A cell over sequences ``xs (n, steps, input_size)`` from the zero state: last states."""
    h = np.zeros((xs.shape[0], cell.hidden_size), np.int64)
    for t in range(xs.shape[1]):
        h = fastgrnn_step(cell, xs[:, t], h)
    return h


@register_op('rnnpool_last')
@dataclass
class RNNPoolLastLayer(Op):
    """RNNPool over the whole ``in_shape`` map as one patch, fed row by row.

    Args:
        name (str): Layer name.
        in_shape (tuple): The last map ``(h, w, c)``.
        input_offset (int): Minus the input zero point.
        rnn1 (FastGRNNCell): Cell over the rows and the columns.
        rnn2 (FastGRNNCell): Cell over the summaries (both directions).
        output_multiplier (int): Q14 state -> output multiplier.
        output_rshift (int): Output right shift.
        output_offset (int): Output zero point.
        act_min (int): Lower clamp. Defaults to -128.
        act_max (int): Upper clamp. Defaults to 127.
        unpack_weights (bool): Store W and U also unpacked to int16 pairs in the cell plans
            (the DSP path's fastest form, 2 more bytes of flash per weight: 90 KB for VWW's
            320 -> 80 -> 80 cells) instead of splitting the int8 words as they are read.
            Defaults to False (see ``benchmarks/mcu_rnnpool.py`` for the instructions).
    """

    streamable = True

    in_shape: Shape
    input_offset: int
    rnn1: FastGRNNCell
    rnn2: FastGRNNCell
    output_multiplier: int
    output_rshift: int
    output_offset: int
    act_min: int = -128
    act_max: int = 127
    unpack_weights: bool = False

    @property
    def out_shape(self) -> Shape:
        """``(1, 1, 4 * h2)``."""
        return (1, 1, 4 * self.rnn2.hidden_size)

    @property
    def madds(self) -> int:
        h, w, _ = self.in_shape
        return self.rnn1.madds(2 * h * w) + self.rnn2.madds(2 * (h + w))

    @property
    def report_kind(self) -> str:
        return 'rnnpool last'

    def validate(self) -> None:
        h, w, c = self.in_shape
        if h < 1 or w < 1:
            raise ValueError(f'layer {self.name}: empty map {self.in_shape}')
        if not 0 < c <= LAST_MAX_CHANNELS:
            raise ValueError(f'layer {self.name}: {c} channels, the kernel takes 1 .. '
                             f'{LAST_MAX_CHANNELS}')
        if self.rnn1.input_size != c or self.rnn2.input_size != self.rnn1.hidden_size:
            raise ValueError(f'layer {self.name}: cell sizes {self.rnn1.input_size} -> '
                             f'{self.rnn1.hidden_size} -> {self.rnn2.input_size} do not chain '
                             f'from {c} channels')
        for cell in (self.rnn1, self.rnn2):
            if not 0 < cell.hidden_size <= LAST_MAX_HIDDEN:
                raise ValueError(f'layer {self.name}: hidden size {cell.hidden_size}, the '
                                 f'kernel takes 1 .. {LAST_MAX_HIDDEN}')

    def as_rnnpool(self) -> RNNPoolLayer:
        """The same layer as a patch RNNPool whose one patch is the whole map (the C struct it
        is emitted as, and the whole-map reference it must equal)."""
        h, w, _ = self.in_shape
        return RNNPoolLayer(
            name=self.name, in_shape=self.in_shape, out_shape=self.out_shape, patch=(h, w),
            stride=(h, w), input_offset=self.input_offset, rnn1=self.rnn1, rnn2=self.rnn2,
            output_multiplier=self.output_multiplier, output_rshift=self.output_rshift,
            output_offset=self.output_offset, act_min=self.act_min, act_max=self.act_max,
            row_cache=False)

    # ---- sizes ----
    def scratch_bytes(self, lean: bool = False) -> int:
        """``rp_rnnpool_last_get_buffer_size``: header, accumulators, one row's (later the
        summaries') input terms, one pixel, row + column states, RNN2's state. It holds the
        state between rows, so it is the op's own (never shared) while the map streams."""
        h, w, c = self.in_shape
        h1, h2 = self.rnn1.hidden_size, self.rnn2.hidden_size
        hm = max(h1, h2)
        return (16 + 4 * hm + 4 * max(h, w) * hm + 2 * align4(c) + align4(2 * (h + w) * h1) +
                align4(2 * hm))

    # ---- reference ----
    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """The streamed computation in integers: rows arrive one by one."""
        x = np.asarray(inputs[0])
        h, w, c = self.in_shape
        if x.shape != (h, w, c):
            raise ValueError(f'layer {self.name}: input {x.shape}, expected {(h, w, c)}')
        h1 = self.rnn1.hidden_size
        row_sum = np.zeros((h, h1), np.int64)
        col_state = np.zeros((w, h1), np.int64)  # the zero state before row 0
        for y in range(h):
            px = (x[y].astype(np.int64) + self.input_offset) * RNN_IN_SCALE  # (w, c)
            row_sum[y] = run_cell(self.rnn1, px[None])[0]
            col_state = fastgrnn_step(self.rnn1, px, col_state)
        outs = []
        for seq in (row_sum, col_state):
            outs.append(run_cell(self.rnn2, seq[None])[0])
            outs.append(run_cell(self.rnn2, seq[None, ::-1])[0])
        v = requantize(np.concatenate(outs), self.output_multiplier, self.output_rshift)
        return to_int8(v, self.act_min, self.act_max, self.output_offset).reshape(self.out_shape)

    # ---- C ----
    def emit(self, prefix: str) -> Tuple[List[str], str]:
        p = c_ident(prefix)
        h, w, _ = self.in_shape
        l1, init1 = self.rnn1.emit(f'{p}_r1')
        l2, init2 = self.rnn2.emit(f'{p}_r2')
        plan = emit_cell_plans(self, p, self.unpack_weights)
        return l1 + l2 + plan + c_struct('rp_rnnpool_layer', p, [
            ('patch_h', h), ('patch_w', w), ('stride_h', h), ('stride_w', w),
            ('in', c_dims(self.in_shape)), ('out', c_dims(self.out_shape)),
            ('input_offset', self.input_offset), ('rnn1', init1), ('rnn2', init2),
            ('output_multiplier', self.output_multiplier),
            ('output_rshift', self.output_rshift), ('output_offset', self.output_offset),
            ('act_min', self.act_min), ('act_max', self.act_max), ('row_cache', 0),
            ('plan', f'&{plan_ident(p)}')]), p

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        buf, size = scratch
        return f'rp_rnnpool_last_s8(&{ident}, {buf}, {size}, {inputs[0]}, {output})'

    def c_scratch_query(self, ident: str, lean: bool = False) -> Optional[str]:
        return f'rp_rnnpool_last_get_buffer_size(&{ident})'

    # ---- streaming (a sink: one input row at a time) ----
    def row_window(self) -> Tuple[int, int]:
        return 1, 1

    def own_ring_bytes(self) -> int:
        """Its state (``rp_rnnpool_last_get_buffer_size``), held from the first row to the
        last next to its one-row ring, so never shared with other stages."""
        return align4(self.scratch_bytes())

    def c_stage(self, ident: str, src: int) -> str:
        return f'{{.kind = RP_STAGE_RNNPOOL_LAST, .src = {src}, .rnnpool = &{ident}}}'


__all__ = ['RNNPoolLastLayer', 'fastgrnn_step', 'run_cell', 'LAST_MAX_HIDDEN',
           'LAST_MAX_CHANNELS']
