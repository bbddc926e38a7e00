"""RNNPool op with fixed-point FastGRNN cells (``rp_rnnpool.c``; stream stage
``RP_STAGE_RNNPOOL``). The C emission of the layer is :meth:`RNNPoolLayer.emit`, kept small so
that the export-time cell plans can be added there."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .base import (RP_MAX_HIDDEN, RP_MAX_KERNEL, Op, Shape, align4, c_array, c_dims, c_ident,
                   c_struct, register_op)
from ..rnnpool_plan import emit_cell_plans, plan_ident
from .intmath import Q14, requantize, to_int8

PRE_LIMIT = 1 << 28
RNN_IN_SCALE = 64  # RNN1 inputs are (q - zp) * 64 (keeps the W multiplier on the fast path)


@dataclass
class FastGRNNCell:
    """Fixed-point FastGRNN cell (int16 Q14 state; see ``rp_rnnpool.c``).

    Args:
        w (np.ndarray): int8 ``[h, i]``.
        w_multiplier (np.ndarray): int32 ``[h]`` (W accumulator -> Q14; RNN1's inputs are
            ``(q - zp) * 64``, so its scale is ``w_scale * in_scale * 2**14 / 64``).
        w_rshift (np.ndarray): int8 ``[h]``.
        u (np.ndarray): int8 ``[h, h]``.
        u_multiplier (np.ndarray): int32 ``[h]`` (U accumulator -> Q14).
        u_rshift (np.ndarray): int8 ``[h]``.
        bias_gate (np.ndarray): int32 ``[h]`` Q14.
        bias_update (np.ndarray): int32 ``[h]`` Q14.
        zeta_q14 (int): ``sigmoid(zeta)`` in Q14.
        nu_q14 (int): ``sigmoid(nu)`` in Q14.
        sigmoid_table (np.ndarray, optional): int16 ``[513]`` Q14 sigmoid samples on [-8, 8]
            (None: quantSigmoid). Defaults to None.
        tanh_table (np.ndarray, optional): int16 ``[513]`` Q14 tanh samples (None:
            quantTanh). Defaults to None.
    """

    w: np.ndarray
    w_multiplier: np.ndarray
    w_rshift: np.ndarray
    u: np.ndarray
    u_multiplier: np.ndarray
    u_rshift: np.ndarray
    bias_gate: np.ndarray
    bias_update: np.ndarray
    zeta_q14: int
    nu_q14: int
    sigmoid_table: Optional[np.ndarray] = None
    tanh_table: Optional[np.ndarray] = None

    @property
    def input_size(self) -> int:
        """Input features."""
        return int(self.w.shape[1])

    @property
    def hidden_size(self) -> int:
        """Hidden features."""
        return int(self.w.shape[0])

    def madds(self, steps: int) -> int:
        """Multiply-accumulates of ``steps`` steps."""
        h = self.hidden_size
        return steps * h * (self.input_size + h)

    def emit(self, p: str) -> Tuple[List[str], str]:
        """Arrays and the designated initialiser of an ``rp_fastgrnn_cell``."""
        lines = c_array(f'{p}_w', self.w, np.int8)
        lines += c_array(f'{p}_wm', self.w_multiplier, np.int32)
        lines += c_array(f'{p}_ws', self.w_rshift, np.int8)
        lines += c_array(f'{p}_u', self.u, np.int8)
        lines += c_array(f'{p}_um', self.u_multiplier, np.int32)
        lines += c_array(f'{p}_us', self.u_rshift, np.int8)
        lines += c_array(f'{p}_bg', self.bias_gate, np.int32)
        lines += c_array(f'{p}_bu', self.bias_update, np.int32)
        sig = tanh = 'NULL'
        if self.sigmoid_table is not None and self.tanh_table is not None:
            lines += c_array(f'{p}_sig', self.sigmoid_table, np.int16)
            lines += c_array(f'{p}_tanh', self.tanh_table, np.int16)
            sig, tanh = f'{p}_sig', f'{p}_tanh'
        init = (f'{{.input_size = {self.input_size}, .hidden_size = {self.hidden_size}, '
                f'.w = {p}_w, .w_quant = {{.multiplier = {p}_wm, .rshift = {p}_ws}}, '
                f'.u = {p}_u, .u_quant = {{.multiplier = {p}_um, .rshift = {p}_us}}, '
                f'.bias_gate = {p}_bg, .bias_update = {p}_bu, .zeta_q14 = {int(self.zeta_q14)}, '
                f'.nu_q14 = {int(self.nu_q14)}, .sigmoid_table = {sig}, .tanh_table = {tanh}}}')
        return lines, init


def act_table(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Linear interpolation in a 513-entry Q14 table over [-8, 8) (``act_table`` in C)."""
    tab = np.asarray(table, dtype=np.int64)
    u = np.clip(x, -8 * Q14, 8 * Q14 - 1) + 8 * Q14
    i, f = u >> 9, u & 511
    return tab[i] + (((tab[i + 1] - tab[i]) * f + 256) >> 9)


def fastgrnn_sequence(cell: FastGRNNCell, xs: np.ndarray) -> np.ndarray:
    """Runs a FastGRNN cell over sequences from a zero state, returns the last state.

    Args:
        cell (FastGRNNCell): The cell.
        xs (np.ndarray): int64 inputs ``(batch, steps, input_size)`` (already offset / Q14).

    Returns:
        np.ndarray: int64 ``(batch, hidden)`` Q14 states (int16 range).
    """
    w = cell.w.astype(np.int64)
    u = cell.u.astype(np.int64)
    h = np.zeros((xs.shape[0], cell.hidden_size), dtype=np.int64)
    for t in range(xs.shape[1]):
        pw = np.clip(requantize(xs[:, t] @ w.T, cell.w_multiplier, cell.w_rshift),
                     -PRE_LIMIT, PRE_LIMIT)
        pu = np.clip(requantize(h @ u.T, cell.u_multiplier, cell.u_rshift), -PRE_LIMIT, PRE_LIMIT)
        pre = pw + pu
        if cell.sigmoid_table is not None and cell.tanh_table is not None:
            z = act_table(cell.sigmoid_table, pre + cell.bias_gate.astype(np.int64))
            ht = act_table(cell.tanh_table, pre + cell.bias_update.astype(np.int64))
        else:
            z = np.clip((pre + cell.bias_gate.astype(np.int64) + Q14) >> 1, 0, Q14)
            ht = np.clip(pre + cell.bias_update.astype(np.int64), -Q14, Q14)
        coef = ((int(cell.zeta_q14) * (Q14 - z)) >> 14) + int(cell.nu_q14)
        h = np.clip((z * h + coef * ht + (1 << 13)) >> 14, -32768, 32767)
    return h


@register_op('rnnpool')
@dataclass
class RNNPoolLayer(Op):
    """RNNPool over patches (``patch`` size, ``stride``; no padding).

    Args:
        name (str): Layer name.
        in_shape (tuple): Input ``(h, w, c)``.
        out_shape (tuple): Output ``(h, w, 4 * h2)``.
        patch (tuple): ``(ph, pw)``.
        stride (tuple): ``(sh, sw)``.
        input_offset (int): Minus the input zero point.
        rnn1 (FastGRNNCell): Cell over patch rows / columns.
        rnn2 (FastGRNNCell): Cell over the summaries (both directions).
        output_multiplier (int): Q14 state -> output multiplier.
        output_rshift (int): Output right shift.
        output_offset (int): Output zero point.
        act_min (int): Lower clamp. Defaults to -128.
        act_max (int): Upper clamp. Defaults to 127.
        row_cache (bool): Whether the scratch includes the row cache (the runtime's
            ``row_cache``; the planner turns it off when the budget needs the 5 KB-ish).
            Defaults to True.
    """

    streamable = True

    in_shape: Shape
    out_shape: Shape
    patch: Tuple[int, int]
    stride: Tuple[int, int]
    input_offset: int
    rnn1: FastGRNNCell
    rnn2: FastGRNNCell
    output_multiplier: int
    output_rshift: int
    output_offset: int
    act_min: int = -128
    act_max: int = 127
    row_cache: bool = True

    @property
    def madds(self) -> int:
        ph, pw = self.patch
        per_patch = self.rnn1.madds(2 * ph * pw) + self.rnn2.madds(2 * (ph + pw))
        return self.out_shape[0] * self.out_shape[1] * per_patch

    def validate(self) -> None:
        k, s = self.row_window()
        if max(k, s) > RP_MAX_KERNEL:
            raise ValueError(f'layer {self.name}: patch {self.patch} larger than '
                             f'{RP_MAX_KERNEL}')
        for cell in (self.rnn1, self.rnn2):
            if cell.hidden_size > RP_MAX_HIDDEN:
                raise ValueError(f'layer {self.name}: hidden size {cell.hidden_size} '
                                 f'> {RP_MAX_HIDDEN}')

    def min_scratch_bytes(self) -> int:
        """``rp_rnnpool_get_min_buffer_size``: input terms, summaries, state (the cell plans
        are const data, ``rnnpool_plan.py``)."""
        ph, pw = self.patch
        h1, h2 = self.rnn1.hidden_size, self.rnn2.hidden_size
        hm, length, c = max(h1, h2), max(ph, pw), self.in_shape[2]
        return (16 + 4 * hm + 4 * length * hm + 2 * align4(c) + align4(2 * (ph + pw) * h1) +
                align4(2 * hm))

    def scratch_bytes(self, lean: bool = False) -> int:
        """``rp_rnnpool_get_buffer_size``: the minimum plus, with ``row_cache`` (and not
        ``lean``), ``out_w * (ph - sh) * h1`` int16 row summaries."""
        minimum = self.min_scratch_bytes()
        if lean or not self.row_cache:
            return minimum
        return minimum + 2 * self.out_shape[1] * max(self.patch[0] - self.stride[0], 0) * \
            self.rnn1.hidden_size

    def c_scratch_query(self, ident: str, lean: bool = False) -> Optional[str]:
        fn = 'rp_rnnpool_get_min_buffer_size' if lean else 'rp_rnnpool_get_buffer_size'
        return f'{fn}(&{ident})'

    # ---- reference ----
    def reference_patches(self, patches: np.ndarray) -> np.ndarray:
        """RNNPool over a batch of int8 patches ``(n, ph, pw, c)`` (``rp_rnnpool_s8_patch``);
        int8 ``(n, 4 * h2)``: rows fwd, rows bwd, columns fwd, columns bwd."""
        n, ph, pw, c = patches.shape
        x = (patches.astype(np.int64) + self.input_offset) * RNN_IN_SCALE
        h1 = self.rnn1.hidden_size
        rows = fastgrnn_sequence(self.rnn1, x.reshape(n * ph, pw, c)).reshape(n, ph, h1)
        cols = fastgrnn_sequence(self.rnn1, x.transpose(0, 2, 1, 3).reshape(n * pw, ph, c))
        cols = cols.reshape(n, pw, h1)
        outs = []
        for seq in (rows, cols):
            outs.append(fastgrnn_sequence(self.rnn2, seq))
            outs.append(fastgrnn_sequence(self.rnn2, seq[:, ::-1]))
        h = np.concatenate(outs, axis=1)
        v = requantize(h, self.output_multiplier, self.output_rshift)
        return to_int8(v, self.act_min, self.act_max, self.output_offset)

    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        x = inputs[0]
        oh, ow, oc = self.out_shape
        ph, pw = self.patch
        sh, sw = self.stride
        patches = np.stack([
            x[py * sh:py * sh + ph, px * sw:px * sw + pw] for py in range(oh) for px in range(ow)
        ])
        return self.reference_patches(patches).reshape(oh, ow, oc)

    # ---- C ----
    def emit(self, prefix: str) -> Tuple[List[str], str]:
        p = c_ident(prefix)
        l1, init1 = self.rnn1.emit(f'{p}_r1')
        l2, init2 = self.rnn2.emit(f'{p}_r2')
        return l1 + l2 + emit_cell_plans(self, p) + c_struct('rp_rnnpool_layer', p, [
            ('patch_h', self.patch[0]), ('patch_w', self.patch[1]),
            ('stride_h', self.stride[0]), ('stride_w', self.stride[1]),
            ('in', c_dims(self.in_shape)), ('out', c_dims(self.out_shape)),
            ('input_offset', self.input_offset), ('rnn1', init1), ('rnn2', init2),
            ('output_multiplier', self.output_multiplier),
            ('output_rshift', self.output_rshift), ('output_offset', self.output_offset),
            ('act_min', self.act_min), ('act_max', self.act_max),
            ('row_cache', int(self.row_cache)), ('plan', f'&{plan_ident(p)}')]), p

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        buf, size = scratch
        return f'rp_rnnpool_s8(&{ident}, {buf}, {size}, {inputs[0]}, {output})'

    # ---- streaming ----
    def row_window(self) -> Tuple[int, int]:
        return self.patch[0], self.stride[0]

    def stream_scratch(self) -> Dict[str, int]:
        return {'rnnpool': align4(self.scratch_bytes())}

    def c_stage(self, ident: str, src: int) -> str:
        return f'{{.kind = RP_STAGE_RNNPOOL, .src = {src}, .rnnpool = &{ident}}}'


__all__ = ['FastGRNNCell', 'RNNPoolLayer', 'act_table', 'fastgrnn_sequence', 'PRE_LIMIT',
           'RNN_IN_SCALE']
