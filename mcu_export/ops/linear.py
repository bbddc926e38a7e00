"""Fully connected layer (``rp_fc.c``): int8 in / out, per-output-channel weights and requant.

``out[o] = clamp(zp_out + requant_o(bias[o] + sum_i w[o, i] (x[i] - zp_in)))``. The input is
the ``(1, 1, n)`` map a GAP (or an RNNPool over the whole last map) hands on, so the HWC vs
torch's CHW flatten order never arises; the Cortex-M4 path does two output rows per pass with
``SXTAB16`` (offset) + ``SXTB16`` + ``SMLAD`` and is bit-identical to the portable loop.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .base import Op, Shape, c_ident, c_struct, c_weight_arrays, register_op
from .intmath import requantize, to_int8

FC_MAX_IN = 32768  # RP_FC_MAX_IN
BIAS_LIMIT = 1 << 28  # with FC_MAX_IN, keeps the int32 accumulator exact


@register_op('linear')
@dataclass
class LinearOp(Op):
    """Fully connected ``(1, 1, in_features) -> (1, 1, out_features)``.

    Args:
        name (str): Layer name.
        weights (np.ndarray): int8 ``[out_features, in_features]`` (per-row symmetric).
        bias (np.ndarray, optional): int32 ``[out_features]`` in units of ``s_in * s_w[o]``.
        multiplier (np.ndarray): int32 ``[out_features]`` requantisation multipliers.
        rshift (np.ndarray): int8 ``[out_features]`` right shifts.
        input_offset (int): Minus the input zero point. Defaults to 0.
        output_offset (int): Output zero point. Defaults to 0.
        act_min (int): Lower output clamp. Defaults to -128.
        act_max (int): Upper output clamp. Defaults to 127.
    """

    weights: np.ndarray
    bias: Optional[np.ndarray]
    multiplier: np.ndarray
    rshift: np.ndarray
    input_offset: int = 0
    output_offset: int = 0
    act_min: int = -128
    act_max: int = 127

    @property
    def in_features(self) -> int:
        return int(self.weights.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weights.shape[0])

    @property
    def in_shape(self) -> Shape:
        return (1, 1, self.in_features)

    @property
    def out_shape(self) -> Shape:
        return (1, 1, self.out_features)

    @property
    def madds(self) -> int:
        return self.in_features * self.out_features

    def validate(self) -> None:
        w = np.asarray(self.weights)
        if w.ndim != 2 or w.dtype != np.int8 or min(w.shape) < 1:
            raise ValueError(f'layer {self.name}: weights must be int8 [out, in], got '
                             f'{w.dtype} {w.shape}')
        if self.in_features > FC_MAX_IN:
            raise ValueError(f'layer {self.name}: {self.in_features} inputs exceed the runtime '
                             f'limit of {FC_MAX_IN}')
        n = self.out_features
        for key in ('multiplier', 'rshift') + (('bias', ) if self.bias is not None else ()):
            if np.asarray(getattr(self, key)).shape != (n, ):
                raise ValueError(f'layer {self.name}: {key} must have shape ({n},)')
        if self.bias is not None and np.abs(np.asarray(self.bias, np.int64)).max() > BIAS_LIMIT:
            raise ValueError(f'layer {self.name}: |bias| exceeds 2^28 (int32 accumulator)')
        rs = np.asarray(self.rshift, np.int64)
        mult = np.asarray(self.multiplier, np.int64)
        if rs.min() < 1 or rs.max() > 62 or mult.min() < 0 or mult.max() >= 1 << 31:
            raise ValueError(f'layer {self.name}: multiplier / shift out of range')
        if not -127 <= self.input_offset <= 128:
            raise ValueError(f'layer {self.name}: input_offset {self.input_offset} is outside '
                             '[-127, 128]')
        if not -128 <= self.act_min <= self.act_max <= 127:
            raise ValueError(f'layer {self.name}: clamp [{self.act_min}, {self.act_max}] invalid')

    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        (x, ) = inputs
        if tuple(x.shape) != self.in_shape:
            raise ValueError(f'layer {self.name}: input shape {x.shape} != {self.in_shape}')
        xs = x.reshape(-1).astype(np.int64) + self.input_offset
        acc = self.weights.astype(np.int64) @ xs
        if self.bias is not None:
            acc = acc + np.asarray(self.bias, dtype=np.int64)
        v = requantize(acc, self.multiplier, self.rshift)
        return to_int8(v, self.act_min, self.act_max, self.output_offset).reshape(self.out_shape)

    def emit(self, prefix: str) -> Tuple[List[str], str]:
        p = c_ident(prefix)
        lines, bias = c_weight_arrays(p, self.weights, self.multiplier, self.rshift, self.bias)
        lines += c_struct('rp_fc_layer', p, [
            ('in_features', self.in_features), ('out_features', self.out_features),
            ('input_offset', int(self.input_offset)), ('output_offset', int(self.output_offset)),
            ('act_min', int(self.act_min)), ('act_max', int(self.act_max)),
            ('weights', f'{p}_w'), ('bias', bias),
            ('quant', f'{{.multiplier = {p}_mult, .rshift = {p}_shift}}')])
        return lines, p

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        return f'rp_fc_s8(&{ident}, {inputs[0]}, {output})'
