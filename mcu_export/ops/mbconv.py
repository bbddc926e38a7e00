"""Inverted residual block op (expand 1x1 -> depthwise -> project 1x1 [+ add]), row by row
(``rp_mbconv_s8``; a stream stage ``RP_STAGE_MBCONV``)."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .add import AddLayer
from .base import RP_MBCONV_CHUNK, Op, Shape, align4, c_ident, c_struct, register_op
from .conv import ConvLayer


@register_op('mbconv')
@dataclass
class MBConvLayer(Op):
    """Inverted residual block run row by row (expand 1x1 -> depthwise -> project 1x1 [+ add]).

    Args:
        name (str): Layer name.
        expand (ConvLayer, optional): 1x1 expansion or None.
        depthwise (ConvLayer): Depthwise convolution.
        project (ConvLayer): 1x1 projection.
        residual (AddLayer, optional): Residual add (input + projection) or None.
    """

    streamable = True

    expand: Optional[ConvLayer]
    depthwise: ConvLayer
    project: ConvLayer
    residual: Optional[AddLayer] = None

    @property
    def in_shape(self) -> Shape:
        """Input ``(h, w, c)``."""
        return tuple((self.expand or self.depthwise).in_shape)

    @property
    def out_shape(self) -> Shape:
        """Output ``(h, w, c)``."""
        return tuple(self.project.out_shape)

    @property
    def parts(self) -> List[ConvLayer]:
        """Its convolutions in order."""
        return [c for c in (self.expand, self.depthwise, self.project) if c is not None]

    @property
    def madds(self) -> int:
        return sum(c.madds for c in self.parts)

    @property
    def report_kind(self) -> str:
        return 'block'

    def validate(self) -> None:
        for conv in self.parts:
            conv.validate()
        if self.residual is not None:
            self.residual.validate()

    def validate_stream(self) -> None:
        self.validate()
        dw = self.depthwise
        if dw.stride[0] > dw.kernel[0] or dw.pad[0] >= dw.kernel[0]:
            raise ValueError(f'layer {self.name}: a streamed block needs stride <= '
                             f'kernel and pad < kernel (got {dw.stride}, {dw.pad})')

    # ---- sizes (rp_mbconv.c) ----
    def pixel_bytes(self, n: int) -> int:
        """Scratch of the pixel passes of ``n`` output pixels (``rp_mbconv_pixel_bytes``)."""
        size = align4(n * self.depthwise.out_shape[2])
        if self.residual is not None:
            size += align4(n * self.project.out_shape[2])
        return size

    def expanded_ring_bytes(self) -> int:
        """The ring of ``kernel_h`` expanded rows (``rp_mbconv_ring_bytes``; 0 without an
        expansion)."""
        dw = self.depthwise
        return align4(dw.kernel[0] * dw.in_shape[1] * dw.in_shape[2]) if self.expand else 0

    def stream_expanded_ring_bytes(self) -> int:
        """The streamed block's ``kernel_h - 1`` expanded rows (``rp_mbconv_stream_ring_bytes``;
        the window's last row is expanded during the output row)."""
        dw = self.depthwise
        return align4((dw.kernel[0] - 1) * dw.in_shape[1] * dw.in_shape[2]) if self.expand \
            else 0

    def fused_pixel_bytes(self, n: int) -> int:
        """Scratch of a streamed pass of ``n`` output pixels with an expansion: the expanded
        columns ahead of the depthwise, then :meth:`pixel_bytes` (``rp_mbconv_fused_pixel_bytes``)."""
        dw = self.depthwise
        cols = min((n - 1) * dw.stride[1] + dw.kernel[1], dw.in_shape[1])
        return align4(cols * dw.in_shape[2]) + self.pixel_bytes(n)

    def scratch_bytes(self, lean: bool = False) -> int:
        """``rp_mbconv_get_buffer_size`` (whole rows per pass) or, ``lean``,
        ``rp_mbconv_get_min_buffer_size`` (``RP_MBCONV_CHUNK`` pixels per pass with an
        expansion; blocks without one keep whole rows)."""
        ow = self.depthwise.out_shape[1]
        chunk = RP_MBCONV_CHUNK if lean and self.expand is not None and ow > RP_MBCONV_CHUNK \
            else ow
        return self.expanded_ring_bytes() + self.pixel_bytes(chunk)

    def c_scratch_query(self, ident: str, lean: bool = False) -> Optional[str]:
        fn = 'rp_mbconv_get_min_buffer_size' if lean else 'rp_mbconv_get_buffer_size'
        return f'{fn}(&{ident})'

    def in_place_ok(self) -> bool:
        """Whether ``rp_mbconv_s8`` may write its output over its input (same start address).

        The block reads input row ``iy`` once (the expansion into its ring, or the depthwise
        window when there is no expansion) plus, with a residual, row ``oy`` just before writing
        output row ``oy``. After output row ``oy`` is written, the first input row still to be
        read is ``oy * s - pad + kh`` (expansion) or ``(oy + 1) * s - pad`` (no expansion), or
        ``oy + 1`` (residual), whichever is smaller; the output rows written so far must end at
        or before it.
        """
        h, w, c = self.in_shape
        oh, ow, oc = self.out_shape
        dw = self.depthwise
        kh, s, pad = dw.kernel[0], dw.stride[0], dw.pad[0]
        in_row, out_row = w * c, ow * oc
        for oy in range(oh):
            if self.expand is not None:
                first = oy * s - pad + kh
            else:
                first = (oy + 1) * s - pad
            if self.residual is not None:
                first = min(first, oy + 1)
            if first >= h:
                continue  # every input row has been read
            if (oy + 1) * out_row > max(first, 0) * in_row:
                return False
        return True

    # ---- reference ----
    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        x = inputs[0]
        y = self.expand.reference([x]) if self.expand is not None else x
        y = self.depthwise.reference([y])
        y = self.project.reference([y])
        if self.residual is not None:
            y = self.residual.reference([x, y])
        return y

    # ---- C ----
    def emit(self, prefix: str) -> Tuple[List[str], str]:
        p = c_ident(prefix)
        lines: List[str] = []
        refs = []
        for part, sub in (('exp', self.expand), ('dw', self.depthwise), ('pj', self.project)):
            if sub is None:
                refs.append('NULL')
                continue
            sub_lines, name = sub.emit(f'{p}_{part}')
            lines += sub_lines
            refs.append(f'&{name}')
        res = 'NULL'
        if self.residual is not None:
            sub_lines, name = self.residual.emit(f'{p}_add')
            lines += sub_lines
            res = f'&{name}'
        lines += c_struct('rp_mbconv_layer', p, [('expand', refs[0]), ('depthwise', refs[1]),
                                                 ('project', refs[2]), ('residual', res)])
        return lines, p

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        buf, size = scratch
        return f'rp_mbconv_s8(&{ident}, {buf}, {size}, {inputs[0]}, {output})'

    # ---- streaming ----
    def row_window(self) -> Tuple[int, int]:
        return self.depthwise.kernel[0], self.depthwise.stride[0]

    def ring_rows(self) -> int:
        """With an expansion each input row is expanded (on arrival, or the window's last row
        during the output row) into the block's own ring of ``k - 1`` expanded rows, so it
        keeps one input row, or with a residual the rows from output row ``oy`` to the last
        one its window reads (``k - pad``)."""
        k, s = self.row_window()
        if self.expand is not None:
            return k - self.depthwise.pad[0] if self.residual is not None else 1
        return max(k, s)

    def own_ring_bytes(self) -> int:
        return self.stream_expanded_ring_bytes()

    def stream_scratch(self) -> Dict[str, int]:
        n = min(self.depthwise.out_shape[1], RP_MBCONV_CHUNK)
        return {'mbconv_pixels': self.fused_pixel_bytes(n) if self.expand is not None
                else self.pixel_bytes(n)}

    def c_stage(self, ident: str, src: int) -> str:
        return f'{{.kind = RP_STAGE_MBCONV, .src = {src}, .mbconv = &{ident}}}'


__all__ = ['MBConvLayer']
