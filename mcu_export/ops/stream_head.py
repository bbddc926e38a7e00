"""Detection head sink op: a level's loc and conf convolutions run row by row inside the stream
and hand each row pair to ``rp_detect_add_rows`` (``RP_STAGE_HEAD``), so the maps never exist."""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .base import Op, Shape, align4, c_ident, c_struct, register_op
from .conv import ConvLayer

#: Name of the ``rp_detect_level`` array the detect op emits into model.c (static, so one per
#: model even when several models link into one firmware).
DETECT_LEVELS = 'rp_det_levels'


@register_op('stream_head')
@dataclass
class StreamHead(Op):
    """A detection head run inside the stream: rows are decoded as they are produced, so its
    maps never exist whole.

    Args:
        name (str): Stage name.
        loc (ConvLayer): Box-delta convolution (4 channels).
        conf (ConvLayer): Logit convolution (same kernel, stride and padding).
        level (int): Index of its level in ``DetectSpec.levels``.
    """

    streamable = True
    map_output = False

    loc: ConvLayer
    conf: ConvLayer
    level: int

    @classmethod
    def from_pair(cls, level: int, loc, conf) -> 'StreamHead':
        """The sink of a level from its two whole-map head layers (``ValueError`` when they
        are not two convolutions reading the same rows)."""
        if not (isinstance(loc, ConvLayer) and isinstance(conf, ConvLayer)):
            raise ValueError(f'level {level}: heads {loc.name} / {conf.name} must both be '
                             'convolutions to run in the stream')
        if (loc.kernel[0] != conf.kernel[0] or loc.stride[0] != conf.stride[0]
                or loc.pad[0] != conf.pad[0] or tuple(loc.in_shape) != tuple(conf.in_shape)):
            raise ValueError(f'level {level}: heads {loc.name} / {conf.name} do not share '
                             'their input rows')
        return cls(f'head{level}', loc, conf, level)

    @property
    def detect_level(self) -> int:
        """The detection level it decodes (what the detect op looks for)."""
        return self.level

    @property
    def in_shape(self) -> Shape:
        """Input ``(h, w, c)``."""
        return tuple(self.loc.in_shape)

    @property
    def out_shape(self) -> Shape:
        """Output rows' ``(h, w, 4)`` (never a whole map)."""
        return tuple(self.loc.out_shape)

    @property
    def madds(self) -> int:
        return self.loc.madds + self.conf.madds

    @property
    def report_kind(self) -> str:
        return 'head'

    def validate(self) -> None:
        self.loc.validate()
        self.conf.validate()

    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """The loc and conf maps concatenated over channels (``[..., :4]`` is loc)."""
        return np.concatenate([self.loc.reference(inputs), self.conf.reference(inputs)], axis=2)

    def emit(self, prefix: str) -> Tuple[List[str], str]:
        p = c_ident(prefix)
        loc_lines, loc = self.loc.emit(f'{p}_loc')
        conf_lines, conf = self.conf.emit(f'{p}_conf')
        return loc_lines + conf_lines + c_struct('rp_stream_head', p, [
            ('loc', f'&{loc}'), ('conf', f'&{conf}'),
            ('level', f'&{DETECT_LEVELS}[{self.level}]'), ('level_index', self.level)]), p

    def row_window(self) -> Tuple[int, int]:
        return self.loc.kernel[0], self.loc.stride[0]

    def stream_scratch(self) -> Dict[str, int]:
        return {'head_loc': align4(self.loc.out_shape[1] * 4),
                'head_conf': align4(self.conf.out_shape[1] * self.conf.out_shape[2])}

    def c_stage(self, ident: str, src: int) -> str:
        return f'{{.kind = RP_STAGE_HEAD, .src = {src}, .head = &{ident}}}'


__all__ = ['StreamHead', 'DETECT_LEVELS']
