"""Global average pooling (``rp_gap.c``): a streamable sink that never stores its input map.

``out[c] = clamp(zp_out + requant(sum_{y,x} (q[y,x,c] - zp_in), m, r))`` with one multiplier /
shift ``m 2^-r ~= s_in / (s_out h w)``. In the stream every arriving row is added to ``c`` int32
sums (``rp_gap_s8_add_row``) and the 1 x 1 x c output is written after the last row
(``rp_gap_s8_finish``); as a whole-map layer ``rp_gap_s8`` sums four channels at a time in
registers and needs no scratch. Both give the same integers.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .base import Op, Shape, c_dims, c_ident, c_struct, register_op
from .intmath import requantize, to_int8

GAP_MAX_PIXELS = 1 << 23  # RP_GAP_MAX_PIXELS: every int32 sum stays exact


@register_op('gap')
@dataclass
class GapOp(Op):
    """Global average pooling ``(h, w, c) -> (1, 1, c)``.

    Args:
        name (str): Layer name.
        in_shape (tuple): Input ``(h, w, c)``.
        output_multiplier (int): ``s_in / (s_out h w)`` as multiplier in [2^30, 2^31) ...
        output_rshift (int): ... and right shift in [1, 62].
        input_offset (int): Minus the input zero point. Defaults to 0.
        output_offset (int): Output zero point. Defaults to 0.
        act_min (int): Lower output clamp. Defaults to -128.
        act_max (int): Upper output clamp. Defaults to 127.
    """

    in_shape: Shape
    output_multiplier: int
    output_rshift: int
    input_offset: int = 0
    output_offset: int = 0
    act_min: int = -128
    act_max: int = 127

    streamable = True

    @property
    def report_kind(self) -> str:
        return 'gap'

    @property
    def out_shape(self) -> Shape:
        return (1, 1, int(self.in_shape[2]))

    @property
    def madds(self) -> int:
        h, w, c = self.in_shape
        return int(h * w * c)  # one add per input value

    def validate(self) -> None:
        h, w, c = (int(v) for v in self.in_shape)
        if min(h, w, c) < 1:
            raise ValueError(f'layer {self.name}: GAP input {self.in_shape} is empty')
        if h * w > GAP_MAX_PIXELS:
            raise ValueError(f'layer {self.name}: GAP over {h} x {w} pixels exceeds the '
                             f'runtime limit of {GAP_MAX_PIXELS} (int32 sums)')
        if not -127 <= self.input_offset <= 128:
            raise ValueError(f'layer {self.name}: input_offset {self.input_offset} is outside '
                             '[-127, 128]')
        if not 1 <= self.output_rshift <= 62 or not 0 <= self.output_multiplier < (1 << 31):
            raise ValueError(f'layer {self.name}: GAP multiplier / shift '
                             f'{self.output_multiplier} / {self.output_rshift} out of range')
        if not -128 <= self.act_min <= self.act_max <= 127:
            raise ValueError(f'layer {self.name}: clamp [{self.act_min}, {self.act_max}] invalid')

    # --- the integer reference -------------------------------------------------------------
    def sums(self, rows: np.ndarray) -> np.ndarray:
        """Raw per-channel sums of int8 rows ``(n, w, c)`` (what ``rp_gap_s8_add_rows`` adds)."""
        return np.asarray(rows, dtype=np.int64).sum(axis=(0, 1))

    def finish(self, sums: np.ndarray) -> np.ndarray:
        """``rp_gap_s8_finish``: raw sums of all rows -> int8 ``(1, 1, c)``."""
        h, w, _ = self.in_shape
        centred = np.asarray(sums, dtype=np.int64) + self.input_offset * (h * w)
        v = requantize(centred, self.output_multiplier, self.output_rshift)
        return to_int8(v, self.act_min, self.act_max, self.output_offset).reshape(self.out_shape)

    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        (x, ) = inputs
        if tuple(x.shape) != tuple(self.in_shape):
            raise ValueError(f'layer {self.name}: input shape {x.shape} != {self.in_shape}')
        return self.finish(self.sums(x))

    # --- whole-map C -------------------------------------------------------------------------
    def emit(self, prefix: str) -> Tuple[List[str], str]:
        p = c_ident(prefix)
        return c_struct('rp_gap_layer', p, [
            ('in', c_dims(self.in_shape)), ('input_offset', int(self.input_offset)),
            ('output_multiplier', int(self.output_multiplier)),
            ('output_rshift', int(self.output_rshift)),
            ('output_offset', int(self.output_offset)), ('act_min', int(self.act_min)),
            ('act_max', int(self.act_max))]), p

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        return f'rp_gap_s8(&{ident}, {inputs[0]}, {output})'

    # --- streaming: a sink stage ------------------------------------------------------------
    def row_window(self) -> Tuple[int, int]:
        return 1, 1  # every input row is consumed as it arrives

    def ring_rows(self) -> int:
        return 1

    def sums_bytes(self) -> int:
        """The stage's c int32 running sums (``rp_gap_get_sums_size``)."""
        return 4 * int(self.in_shape[2])

    def own_ring_bytes(self) -> int:
        """Besides its one-row input ring, the stage owns the running sums for the whole run."""
        return self.sums_bytes()

    def stream_scratch(self) -> Dict[str, int]:
        return {}

    def c_stage(self, ident: str, src: int) -> str:
        return f'{{.kind = RP_STAGE_GAP, .src = {int(src)}, .gap = &{ident}}}'
