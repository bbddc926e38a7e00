"""Classification output op (``rp_classify.c``): int8 logits -> Q15 softmax scores + argmax.

The label is the argmax of the int8 logits (ties: the lowest index), which is exact and does
not depend on the table. The scores are the softmax in Q15: ``e_i = exp_q15[max - q_i]`` from a
256-entry table ``round(32768 exp(-s d))`` built at export time for the logits' scale ``s``,
``score_i = min((e_i * 32768 + sum / 2) // sum, 32767)`` with ``sum = sum_j e_j`` (uint32 in C).
Against the float softmax of the dequantised logits it is within 2^-13 (4 Q15 units; measured
at most 3 over scales 1e-4 .. 5, tested); the int8 logits' own rounding is the quantisation's.

As the program's output op it reads one tensor (the logits, ``(1, 1, n)``), runs once after the
step that writes it and fills ``P_result {int32_t label; int16_t scores[n];}``; the harness
gets the records ``class label`` and ``scores s0 s1 ...`` (16 per record).
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .base import OutputOp, Shape, c_array, c_ident, c_struct, register_op

TABLE_SIZE = 256  # RP_CLASSIFY_TABLE_SIZE
MAX_CLASSES = 65536  # RP_CLASSIFY_MAX_CLASSES
Q15 = 1 << 15
#: Name of the op's rp_classify_layer in model.c (static: one per model, as the detect levels).
CLASSIFY_LAYER = 'rp_cls_layer'
SCORES_PER_RECORD = 16


def exp_table_q15(logit_scale: float) -> np.ndarray:
    """int32 ``[256]``: ``round(32768 exp(-logit_scale d))`` for ``d = 0 .. 255``."""
    if not math.isfinite(logit_scale) or logit_scale <= 0:
        raise ValueError(f'classify: logit scale must be finite and > 0, got {logit_scale}')
    d = np.arange(TABLE_SIZE, dtype=np.float64)
    return np.round(Q15 * np.exp(-logit_scale * d)).astype(np.int32)


@register_op('classify')
@dataclass
class ClassifyOp(OutputOp):
    """Output op: ``(1, 1, n)`` int8 logits -> the label and ``n`` Q15 scores.

    Args:
        name (str): Op name.
        logits (str): Name of the logits tensor.
        num_classes (int): Number of logits.
        exp_q15 (np.ndarray): int32 ``[256]`` table (:func:`exp_table_q15`).
        class_names (list[str]): For the report. Defaults to ``[]`` (indices).
    """

    logits: str
    num_classes: int
    exp_q15: np.ndarray
    class_names: List[str] = field(default_factory=list)

    @property
    def in_shape(self) -> Shape:
        return (1, 1, int(self.num_classes))

    @property
    def out_shape(self) -> Shape:
        return (1, 1, int(self.num_classes))  # the scores (int16); the label rides along

    def validate(self) -> None:
        if not 1 <= self.num_classes <= MAX_CLASSES:
            raise ValueError(f'{self.name}: {self.num_classes} classes outside [1, {MAX_CLASSES}]')
        t = np.asarray(self.exp_q15, dtype=np.int64)
        if t.shape != (TABLE_SIZE, ) or not 1 <= t[0] <= Q15 or t.min() < 0 or t.max() > Q15:
            raise ValueError(f'{self.name}: exp_q15 must be {TABLE_SIZE} values in '
                             f'[0, 32768] with a positive first entry')
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ValueError(f'{self.name}: {len(self.class_names)} class names for '
                             f'{self.num_classes} classes')

    # ---- graph ----
    def input_names(self) -> List[str]:
        return [self.logits]

    def check_inputs(self, shapes: Dict[str, Shape]) -> None:
        super().check_inputs(shapes)
        if tuple(shapes[self.logits]) != self.in_shape:
            raise ValueError(f'{self.name}: logits {self.logits!r} must be {self.in_shape}, '
                             f'got {tuple(shapes[self.logits])}')

    # ---- reference ----
    def classify(self, logits: np.ndarray) -> Tuple[int, np.ndarray]:
        """``(label, int16 scores [n])``, exactly what ``rp_classify_s8`` writes."""
        if tuple(logits.shape) != self.in_shape:
            raise ValueError(f'{self.name}: logits shape {logits.shape} != {self.in_shape}')
        q = logits.reshape(-1).astype(np.int64)
        label = int(np.argmax(q))  # numpy's argmax returns the first maximum, as the C does
        e = np.asarray(self.exp_q15, dtype=np.int64)[q.max() - q]
        total = int(e.sum())
        scores = np.minimum((e * Q15 + total // 2) // total, Q15 - 1).astype(np.int16)
        return label, scores

    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """The scores, int16 ``(1, 1, n)`` (:meth:`classify` has the label too)."""
        return self.classify(inputs[0])[1].reshape(self.out_shape)

    def result(self, program, tensors: Dict[str, np.ndarray]) -> np.ndarray:
        """int32 ``[1 + n]``: the label, then the scores."""
        label, scores = self.classify(tensors[self.logits])
        return np.concatenate([[label], scores.astype(np.int64)]).astype(np.int32)

    def result_bytes(self, result: np.ndarray) -> bytes:
        return np.asarray(result).astype('<i4').tobytes()

    def describe(self, result: np.ndarray) -> str:
        """One line for reports: the class and its score."""
        label = int(result[0])
        name = self.class_names[label] if self.class_names else str(label)
        return f'class {name} (score {int(result[1 + label]) / Q15:.4f})'

    # ---- C ----
    def emit(self, prefix: str) -> Tuple[List[str], str]:
        p = c_ident(prefix)
        lines = c_array(f'{p}_exp', self.exp_q15, np.int32)
        lines += c_struct('rp_classify_layer', p, [('num_classes', int(self.num_classes)),
                                                   ('exp_q15', f'{p}_exp')])
        return lines, p

    def emit_tables(self, program, prefix: str) -> List[str]:
        return self.emit(CLASSIFY_LAYER)[0]

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        """``output``: an ``int16_t[n]`` for the scores; the label goes to ``output_label``."""
        return f'rp_classify_s8(&{ident}, {inputs[0]}, {output}, &{output}_label)'

    def output_decls(self, output: str) -> List[str]:
        """Storage :meth:`c_call` writes (for kernel tests)."""
        return [f'static int16_t {output}[{int(self.num_classes)}];',
                f'static int32_t {output}_label;']

    def c_header(self, P: str, PU: str) -> List[str]:
        return [f'#define {PU}_NUM_CLASSES {int(self.num_classes)}', '',
                '/** Classification: argmax of the logits (ties: lowest index) and the softmax '
                'scores in Q15. */',
                'typedef struct {', '    int32_t label;',
                f'    int16_t scores[{PU}_NUM_CLASSES];', f'}} {P}_result;']

    def c_consume(self, program, key, tensor) -> List[str]:
        return [f'st = rp_classify_s8(&{CLASSIFY_LAYER}, {tensor(self.logits)}, result->scores, '
                '&result->label);']

    def c_finish(self, program, PU: str, tensor) -> List[str]:
        return ['return st;']

    def c_report(self, P: str) -> List[str]:
        n, k = int(self.num_classes), SCORES_PER_RECORD
        return ['sink(user, "class", &r->label, 1);',
                f'for (int32_t i0 = 0; i0 < {n}; i0 += {k}) {{',
                f'    int32_t v[{k}];',
                f'    const int32_t m = {n} - i0 < {k} ? {n} - i0 : {k};',
                '    for (int32_t i = 0; i < m; i++) {', '        v[i] = r->scores[i0 + i];',
                '    }', '    sink(user, "scores", v, m);', '}']


__all__ = ['ClassifyOp', 'exp_table_q15', 'CLASSIFY_LAYER']
