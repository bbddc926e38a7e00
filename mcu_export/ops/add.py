"""Element-wise add op with requantisation (``rp_add_s8``)."""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .base import Op, Shape, c_ident, c_struct, register_op
from .intmath import requantize, to_int8


@register_op('add')
@dataclass
class AddLayer(Op):
    """Element-wise add with requantisation (see ``rp_add_layer``).

    Args:
        name (str): Layer name.
        shape (tuple): ``(h, w, c)`` of both inputs and the output.
        input1_offset (int): Minus the first input's zero point.
        input2_offset (int): Minus the second input's zero point.
        input1_multiplier (int): First input's multiplier.
        input1_rshift (int): First input's right shift.
        input2_multiplier (int): Second input's multiplier.
        input2_rshift (int): Second input's right shift.
        output_multiplier (int): Output multiplier.
        output_rshift (int): Output right shift.
        output_offset (int): Output zero point.
        left_shift (int): Headroom shift. Defaults to 20.
        act_min (int): Lower clamp. Defaults to -128.
        act_max (int): Upper clamp. Defaults to 127.
    """

    num_inputs = 2

    shape: Shape
    input1_offset: int
    input2_offset: int
    input1_multiplier: int
    input1_rshift: int
    input2_multiplier: int
    input2_rshift: int
    output_multiplier: int
    output_rshift: int
    output_offset: int
    left_shift: int = 20
    act_min: int = -128
    act_max: int = 127

    @property
    def in_shape(self) -> Shape:
        return tuple(self.shape)

    @property
    def out_shape(self) -> Shape:
        return tuple(self.shape)

    def validate(self) -> None:
        for key in ('input1_rshift', 'input2_rshift', 'output_rshift'):
            if not 1 <= int(getattr(self, key)) <= 62:
                raise ValueError(f'layer {self.name}: {key} {getattr(self, key)} outside '
                                 '[1, 62]')

    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        a, b = inputs
        xa = (a.astype(np.int64) + self.input1_offset) * (1 << self.left_shift)
        xb = (b.astype(np.int64) + self.input2_offset) * (1 << self.left_shift)
        sa = requantize(xa, self.input1_multiplier, self.input1_rshift)
        sb = requantize(xb, self.input2_multiplier, self.input2_rshift)
        v = requantize(sa + sb, self.output_multiplier, self.output_rshift)
        return to_int8(v, self.act_min, self.act_max, self.output_offset)

    def emit(self, prefix: str) -> Tuple[List[str], str]:
        p = c_ident(prefix)
        v = self
        return c_struct('rp_add_layer', p, [
            ('input1_offset', v.input1_offset), ('input2_offset', v.input2_offset),
            ('left_shift', v.left_shift),
            ('input1_multiplier', v.input1_multiplier),
            ('input2_multiplier', v.input2_multiplier),
            ('input1_rshift', v.input1_rshift), ('input2_rshift', v.input2_rshift),
            ('output_multiplier', v.output_multiplier), ('output_rshift', v.output_rshift),
            ('output_offset', v.output_offset), ('act_min', v.act_min),
            ('act_max', v.act_max)]), p

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        h, w, c = self.shape
        return f'rp_add_s8(&{ident}, {inputs[0]}, {inputs[1]}, {h * w * c}, {output})'


__all__ = ['AddLayer']
