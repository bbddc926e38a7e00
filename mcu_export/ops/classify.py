"""Classification output op (``rp_classify.c``): int8 logits -> Q15 softmax scores + argmax.

The label is the argmax of the int8 logits (ties: the lowest index), which is exact and does
not depend on the table. The scores are the softmax in Q15: ``e_i = exp_q15[max - q_i]`` from a
256-entry table ``round(32768 exp(-s d))`` built at export time for the logits' scale ``s``,
``score_i = min((e_i * 32768 + sum / 2) // sum, 32767)`` with ``sum = sum_j e_j`` (uint32 in C).
Against the float softmax of the dequantised logits it is within 2^-13 (4 Q15 units; measured
at most 3 over scales 1e-4 .. 5, tested); the int8 logits' own rounding is the quantisation's.

An output op: its C writes ``int16_t NAME[n]`` (scores) and ``int32_t NAME_label``, declared by
:meth:`ClassifyOp.output_decls`; the harness prints / dumps both.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..cemit import c_array, c_ident
from .base import Op, Shape, register_op

TABLE_SIZE = 256  # RP_CLASSIFY_TABLE_SIZE
MAX_CLASSES = 65536  # RP_CLASSIFY_MAX_CLASSES
Q15 = 1 << 15


def exp_table_q15(logit_scale: float) -> np.ndarray:
    """int32 ``[256]``: ``round(32768 exp(-logit_scale d))`` for ``d = 0 .. 255``."""
    if not math.isfinite(logit_scale) or logit_scale <= 0:
        raise ValueError(f'classify: logit scale must be finite and > 0, got {logit_scale}')
    d = np.arange(TABLE_SIZE, dtype=np.float64)
    return np.round(Q15 * np.exp(-logit_scale * d)).astype(np.int32)


@register_op('classify')
@dataclass
class ClassifyOp(Op):
    """Output op ``(1, 1, n)`` int8 logits -> ``n`` Q15 scores and the label.

    Args:
        name (str): Layer name.
        num_classes (int): Number of logits.
        exp_q15 (np.ndarray): int32 ``[256]`` table (:func:`exp_table_q15`).
        class_names (list[str]): For the report. Defaults to ``[]`` (indices).
    """

    num_classes: int
    exp_q15: np.ndarray
    class_names: List[str] = field(default_factory=list)

    @property
    def in_shape(self) -> Shape:
        return (1, 1, int(self.num_classes))

    @property
    def out_shape(self) -> Shape:
        return (1, 1, int(self.num_classes))  # the scores (int16); the label rides along

    @property
    def madds(self) -> int:
        return 0

    def validate(self) -> None:
        if not 1 <= self.num_classes <= MAX_CLASSES:
            raise ValueError(f'layer {self.name}: {self.num_classes} classes outside '
                             f'[1, {MAX_CLASSES}]')
        t = np.asarray(self.exp_q15, dtype=np.int64)
        if t.shape != (TABLE_SIZE, ) or not 1 <= t[0] <= Q15 or t.min() < 0 or t.max() > Q15:
            raise ValueError(f'layer {self.name}: exp_q15 must be {TABLE_SIZE} values in '
                             f'[0, 32768] with a positive first entry')
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ValueError(f'layer {self.name}: {len(self.class_names)} class names for '
                             f'{self.num_classes} classes')

    def result(self, inputs: Sequence[np.ndarray]) -> Dict[str, object]:
        """``{'label': int, 'scores': int16 [n]}``, exactly what ``rp_classify_s8`` writes."""
        (x, ) = inputs
        if tuple(x.shape) != self.in_shape:
            raise ValueError(f'layer {self.name}: input shape {x.shape} != {self.in_shape}')
        q = x.reshape(-1).astype(np.int64)
        label = int(np.argmax(q))  # numpy's argmax returns the first maximum, as the C does
        e = np.asarray(self.exp_q15, dtype=np.int64)[q.max() - q]
        total = int(e.sum())
        scores = np.minimum((e * Q15 + total // 2) // total, Q15 - 1).astype(np.int16)
        return {'label': label, 'scores': scores}

    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """The scores, int16 ``(1, 1, n)`` (:meth:`result` has the label too)."""
        return self.result(inputs)['scores'].reshape(self.out_shape)

    def emit(self, prefix: str) -> Tuple[List[str], str]:
        p = c_ident(prefix)
        lines = c_array(f'{p}_exp', self.exp_q15, np.int32)
        lines += [f'static const rp_classify_layer {p} = {{',
                  f'    .num_classes = {int(self.num_classes)},', f'    .exp_q15 = {p}_exp,', '};']
        return lines, p

    def output_decls(self, output: str) -> List[str]:
        """Storage of the results: the scores array and the label."""
        return [f'static int16_t {output}[{int(self.num_classes)}];',
                f'static int32_t {output}_label;']

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        return f'rp_classify_s8(&{ident}, {inputs[0]}, {output}, &{output}_label)'
