"""Integer L2 normalisation op over channels (``rp_l2norm_s8``; see mcu_export/README.md)."""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .base import Op, Shape, c_array, c_dims, c_ident, c_struct, register_op
from .intmath import requantize, to_int8


@register_op('l2norm')
@dataclass
class L2NormLayer(Op):
    """Integer L2 normalisation over channels (see ``rp_l2norm.c``).

    Args:
        name (str): Layer name.
        shape (tuple): ``(h, w, c)``.
        input_offset (int): Minus the input zero point.
        output_offset (int): Output zero point.
        multiplier (np.ndarray): int32 ``[c]``: ``weight_c / (out_scale * 2**22)``.
        rshift (np.ndarray): int8 ``[c]``.
    """

    streamable = True

    shape: Shape
    input_offset: int
    output_offset: int
    multiplier: np.ndarray
    rshift: np.ndarray

    @property
    def in_shape(self) -> Shape:
        return tuple(self.shape)

    @property
    def out_shape(self) -> Shape:
        return tuple(self.shape)

    def validate(self) -> None:
        if np.any(np.asarray(self.rshift) < 1) or np.any(np.asarray(self.rshift) > 62):
            raise ValueError(f'layer {self.name}: requantisation shift outside [1, 62]')

    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        x = inputs[0]
        v = x.astype(np.int64) + self.input_offset
        total = (v * v).sum(axis=-1)
        out = np.empty(x.shape, dtype=np.int8)
        flat_v = v.reshape(-1, x.shape[-1])
        flat_out = out.reshape(-1, x.shape[-1])
        for p, s in enumerate(total.reshape(-1)):
            s = int(s)
            if s == 0:
                flat_out[p] = np.clip(self.output_offset, -128, 127)
                continue
            root = math.isqrt(s << 32)
            inv = ((1 << 38) + (root >> 1)) // root
            r = requantize(flat_v[p] * inv, self.multiplier, self.rshift)
            flat_out[p] = to_int8(r, -128, 127, self.output_offset)
        return out

    def emit(self, prefix: str) -> Tuple[List[str], str]:
        p = c_ident(prefix)
        lines = c_array(f'{p}_mult', self.multiplier, np.int32)
        lines += c_array(f'{p}_shift', self.rshift, np.int8)
        lines += c_struct('rp_l2norm_layer', p, [
            ('dims', c_dims(self.shape)), ('input_offset', self.input_offset),
            ('output_offset', self.output_offset),
            ('quant', f'{{.multiplier = {p}_mult, .rshift = {p}_shift}}')])
        return lines, p

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        return f'rp_l2norm_s8(&{ident}, {inputs[0]}, {output})'

    def row_window(self) -> Tuple[int, int]:
        return 1, 1

    def c_stage(self, ident: str, src: int) -> str:
        return f'{{.kind = RP_STAGE_L2NORM, .src = {src}, .l2norm = &{ident}}}'


__all__ = ['L2NormLayer']
