"""Convolution op: regular, depthwise or 1x1 (``rp_conv_s8`` / ``rp_dwconv_s8`` /
``rp_pwconv_s8``; one kind, the C function follows from the parameters)."""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .base import (RP_MAX_KERNEL, Op, Shape, c_array, c_dims, c_ident, c_struct,
                   c_weight_arrays, register_op)
from .intmath import requantize, to_int8


@register_op('conv')
@dataclass
class ConvLayer(Op):
    """Regular (``depthwise=False``) or depthwise int8 convolution.

    Args:
        name (str): Layer name (used in errors and generated identifiers).
        in_shape (tuple): Input ``(h, w, c)``.
        out_shape (tuple): Output ``(h, w, c)``.
        weights (np.ndarray): int8 ``[co, kh, kw, ci]`` (regular) or ``[kh, kw, c]`` (depthwise).
        bias (np.ndarray, optional): int32 ``[co]``.
        multiplier (np.ndarray): int32 ``[co]`` requantisation multipliers.
        rshift (np.ndarray): int8 ``[co]`` right shifts.
        stride (tuple): ``(sh, sw)``. Defaults to (1, 1).
        pad (tuple): Leading padding ``(top, left)``. Defaults to (0, 0).
        input_offset (int): Minus the input zero point. Defaults to 0.
        output_offset (int): Output zero point. Defaults to 0.
        act_min (int): Lower output clamp. Defaults to -128.
        act_max (int): Upper output clamp. Defaults to 127.
        pad_values (np.ndarray, optional): int8 ``[ci]`` value of padded inputs (None: the input
            zero point). Defaults to None.
        depthwise (bool): Depthwise convolution. Defaults to False.
    """

    streamable = True

    in_shape: Shape
    out_shape: Shape
    weights: np.ndarray
    bias: Optional[np.ndarray]
    multiplier: np.ndarray
    rshift: np.ndarray
    stride: Tuple[int, int] = (1, 1)
    pad: Tuple[int, int] = (0, 0)
    input_offset: int = 0
    output_offset: int = 0
    act_min: int = -128
    act_max: int = 127
    pad_values: Optional[np.ndarray] = None
    depthwise: bool = False

    @property
    def kernel(self) -> Tuple[int, int]:
        """Kernel ``(kh, kw)``."""
        if self.depthwise:
            return int(self.weights.shape[0]), int(self.weights.shape[1])
        return int(self.weights.shape[1]), int(self.weights.shape[2])

    @property
    def is_pointwise(self) -> bool:
        """True for a 1x1, stride-1, unpadded regular convolution."""
        return (not self.depthwise and self.kernel == (1, 1) and tuple(self.stride) == (1, 1)
                and tuple(self.pad) == (0, 0))

    @property
    def madds(self) -> int:
        """Multiply-accumulates of one run."""
        kh, kw = self.kernel
        oh, ow, oc = self.out_shape
        per_out = kh * kw * (1 if self.depthwise else self.in_shape[2])
        return oh * ow * oc * per_out

    @property
    def report_kind(self) -> str:
        return 'dwconv' if self.depthwise else 'conv'

    def validate(self) -> None:
        if max(max(self.kernel), self.stride[0]) > RP_MAX_KERNEL:
            raise ValueError(f'layer {self.name}: kernel {self.kernel} / stride '
                             f'{self.stride} larger than {RP_MAX_KERNEL}')
        if np.any(self.rshift < 1) or np.any(self.rshift > 62):
            raise ValueError(f'layer {self.name}: requantisation shift outside [1, 62]')

    # ---- reference ----
    def _pad_input(self, x: np.ndarray) -> np.ndarray:
        """Pads ``x`` (int64, ``x + input_offset`` applied) as the C kernel reads it."""
        h, w, c = x.shape
        kh, kw = self.kernel
        oh, ow, _ = self.out_shape
        sh, sw = self.stride
        pt, pl = self.pad
        need_h = (oh - 1) * sh + kh
        need_w = (ow - 1) * sw + kw
        if self.pad_values is None:
            fill = np.zeros(c, dtype=np.int64)
        else:
            fill = np.asarray(self.pad_values, dtype=np.int64) + self.input_offset
        out = np.empty((max(need_h, pt + h), max(need_w, pl + w), c), dtype=np.int64)
        out[...] = fill
        out[pt:pt + h, pl:pl + w] = x
        return out[:need_h, :need_w]

    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        x = inputs[0]
        if tuple(x.shape) != tuple(self.in_shape):
            raise ValueError(f'layer {self.name}: input shape {x.shape} != {self.in_shape}')
        xp = self._pad_input(x.astype(np.int64) + self.input_offset)
        kh, kw = self.kernel
        oh, ow, oc = self.out_shape
        sh, sw = self.stride
        w = self.weights.astype(np.int64)
        acc = np.zeros((oh, ow, oc), dtype=np.int64)
        for ky in range(kh):
            for kx in range(kw):
                patch = xp[ky:ky + (oh - 1) * sh + 1:sh, kx:kx + (ow - 1) * sw + 1:sw]
                if self.depthwise:
                    acc += patch * w[ky, kx]
                else:
                    acc += patch @ w[:, ky, kx, :].T
        if self.bias is not None:
            acc += np.asarray(self.bias, dtype=np.int64)
        v = requantize(acc, self.multiplier, self.rshift)
        return to_int8(v, self.act_min, self.act_max, self.output_offset)

    # ---- C ----
    def emit(self, prefix: str) -> Tuple[List[str], str]:
        p = c_ident(prefix)
        lines, bias = c_weight_arrays(p, self.weights, self.multiplier, self.rshift, self.bias)
        folded = self.folded_bias()
        if folded is not None:
            lines += c_array(f'{p}_fbias', folded, np.int32)
        pad_values = 'NULL'
        if self.pad_values is not None:
            lines += c_array(f'{p}_padv', self.pad_values, np.int8)
            pad_values = f'{p}_padv'
        kh, kw = self.kernel
        lines += c_struct('rp_conv_layer', p, [
            ('in', c_dims(self.in_shape)), ('out', c_dims(self.out_shape)),
            ('kernel_h', kh), ('kernel_w', kw),
            ('stride_h', int(self.stride[0])), ('stride_w', int(self.stride[1])),
            ('pad_top', int(self.pad[0])), ('pad_left', int(self.pad[1])),
            ('input_offset', int(self.input_offset)), ('output_offset', int(self.output_offset)),
            ('act_min', int(self.act_min)), ('act_max', int(self.act_max)),
            ('pad_values', pad_values), ('weights', f'{p}_w'), ('bias', bias),
            ('quant', f'{{.multiplier = {p}_mult, .rshift = {p}_shift}}')] +
            ([('folded_bias', f'{p}_fbias')] if folded is not None else []))
        return lines, p

    def folded_bias(self) -> Optional[np.ndarray]:
        """A 1x1 convolution's ``bias + input_offset * sum(weights)`` per output channel (what
        ``rp_pwconv_s8`` would otherwise compute on every call), or None for other kinds."""
        if not self.is_pointwise:
            return None
        sums = self.weights.astype(np.int64).reshape(self.weights.shape[0], -1).sum(axis=1)
        folded = sums * int(self.input_offset)
        if self.bias is not None:
            folded = folded + np.asarray(self.bias, dtype=np.int64)
        if np.abs(folded).max(initial=0) >= 2 ** 31:
            raise ValueError(f'layer {self.name}: folded bias out of the int32 range')
        return folded.astype(np.int32)

    @property
    def c_function(self) -> str:
        """The runtime function of the whole-map call."""
        return ('rp_dwconv_s8' if self.depthwise else
                'rp_pwconv_s8' if self.is_pointwise else 'rp_conv_s8')

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        return f'{self.c_function}(&{ident}, {inputs[0]}, {output})'

    # ---- streaming ----
    def row_window(self) -> Tuple[int, int]:
        return self.kernel[0], self.stride[0]

    def c_stage(self, ident: str, src: int) -> str:
        kind = 'RP_STAGE_DWCONV' if self.depthwise else 'RP_STAGE_CONV'
        return f'{{.kind = {kind}, .src = {src}, .conv = &{ident}}}'


__all__ = ['ConvLayer']
