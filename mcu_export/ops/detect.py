"""SSD output op: integer decoding of every level, bounded candidate list, NMS, top-K
(``rp_detect.c``). A level whose two heads run in the stream is decoded there row by row
(:class:`~mcu_export.ops.stream_head.StreamHead`); the others right after the whole-map step
that writes their second head."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .base import OutputOp, Shape, c_array, c_ident, register_op
from .stream_head import DETECT_LEVELS, StreamHead


@dataclass
class DetectLevel:
    """Decoding tables of one detection level (see ``rp_detect_level``).

    Args:
        loc (str): Name of the loc tensor ``(h, w, 4)``.
        conf (str): Name of the conf tensor ``(h, w, num_logits)``.
        fg_index (int): Foreground logit index.
        anchor_x0 (int): Q4 anchor centre x at column 0.
        anchor_y0 (int): Q4 anchor centre y at row 0.
        step_x (int): Q4 anchor step along x.
        step_y (int): Q4 anchor step along y.
        ctr_x (np.ndarray): int32 ``[256]``.
        ctr_y (np.ndarray): int32 ``[256]``.
        half_w (np.ndarray): int32 ``[256]``.
        half_h (np.ndarray): int32 ``[256]``.
        score (np.ndarray): int16 ``[511]``.
    """

    loc: str
    conf: str
    fg_index: int
    anchor_x0: int
    anchor_y0: int
    step_x: int
    step_y: int
    ctr_x: np.ndarray
    ctr_y: np.ndarray
    half_w: np.ndarray
    half_h: np.ndarray
    score: np.ndarray

    def emit(self, shape, num_logits: int, prefix: str) -> Tuple[List[str], str]:
        """Tables and the designated initialiser of one ``rp_detect_level``."""
        p = c_ident(prefix)
        lines: List[str] = []
        for key, dtype in (('ctr_x', np.int32), ('ctr_y', np.int32), ('half_w', np.int32),
                           ('half_h', np.int32), ('score', np.int16)):
            lines += c_array(f'{p}_{key}', getattr(self, key), dtype)
        init = (f'{{.h = {shape[0]}, .w = {shape[1]}, .num_logits = {num_logits}, '
                f'.fg_index = {self.fg_index}, .anchor_x0 = {self.anchor_x0}, '
                f'.anchor_y0 = {self.anchor_y0}, .step_x = {self.step_x}, '
                f'.step_y = {self.step_y}, .ctr_x = {p}_ctr_x, .ctr_y = {p}_ctr_y, '
                f'.half_w = {p}_half_w, .half_h = {p}_half_h, .score = {p}_score}}')
        return lines, init

    def decode(self, level_index: int, loc: np.ndarray, conf: np.ndarray, score_thr: int,
               img_w: int, img_h: int) -> List[Tuple[int, ...]]:
        """Decodes the level (``rp_detect_add_rows``) into candidates in scan order; a box with
        zero width or height once clipped to the image is no candidate.

        Returns:
            list[tuple]: ``(x1, y1, x2, y2, score, label, level)`` per kept location.
        """
        h, w, n = conf.shape
        logits = conf.astype(np.int64)
        others = np.delete(logits, self.fg_index, axis=2)
        bg = np.maximum(others.max(axis=2), -128)
        score = self.score.astype(np.int64)[logits[..., self.fg_index] - bg + 255]
        codes = loc.astype(np.int64) + 128
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
        cx = self.anchor_x0 + xs * self.step_x + self.ctr_x.astype(np.int64)[codes[..., 0]]
        cy = self.anchor_y0 + ys * self.step_y + self.ctr_y.astype(np.int64)[codes[..., 1]]
        hw = self.half_w.astype(np.int64)[codes[..., 2]]
        hh = self.half_h.astype(np.int64)[codes[..., 3]]
        xmax, ymax = img_w * 16, img_h * 16
        x1 = np.clip(cx - hw, 0, xmax)
        y1 = np.clip(cy - hh, 0, ymax)
        x2 = np.clip(cx + hw, 0, xmax)
        y2 = np.clip(cy + hh, 0, ymax)
        # boxes empty after clipping are dropped (mmdet's min_bbox_size = 0)
        keep = (score >= score_thr) & (x2 > x1) & (y2 > y1)
        return [(int(x1[i]), int(y1[i]), int(x2[i]), int(y2[i]), int(score[i]), 0, level_index)
                for i in zip(*np.nonzero(keep))]


def _overlaps(a, b, iou_thr: int) -> bool:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return False
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return union > 0 and inter * 32768 > iou_thr * union


@register_op('detect')
@dataclass(init=False)
class DetectSpec(OutputOp):
    """Post-processing: levels, thresholds and list sizes (the detectors' output op).

    Args:
        levels (list[DetectLevel]): Levels in the order they are decoded.
        score_thr (int): Q15 score threshold.
        iou_thr (int): Q15 NMS IoU threshold.
        max_candidates (int): Bounded pre-NMS candidate list size. Defaults to 64.
        max_dets (int): Detections out (top-K). Defaults to 16.
        name (str): Op name. Defaults to 'detect'.
    """

    num_inputs = 0  # variable: two per level

    levels: List[DetectLevel]
    score_thr: int
    iou_thr: int
    max_candidates: int = 64
    max_dets: int = 16

    def __init__(self, levels: List[DetectLevel], score_thr: int, iou_thr: int,
                 max_candidates: int = 64, max_dets: int = 16, name: str = 'detect') -> None:
        # the name comes last: detectors build DetectSpec(levels, score_thr, iou_thr, ...)
        self.name = name
        self.levels = levels
        self.score_thr = score_thr
        self.iou_thr = iou_thr
        self.max_candidates = max_candidates
        self.max_dets = max_dets

    # ---- graph ----
    def input_names(self) -> List[str]:
        return [name for lv in self.levels for name in (lv.loc, lv.conf)]

    def check_inputs(self, shapes: Dict[str, Shape]) -> None:
        for lv in self.levels:
            for name in (lv.loc, lv.conf):
                if name not in shapes:
                    raise ValueError(f'detection level: head tensor {name!r} is not produced')
            if shapes[lv.loc][2] != 4 or tuple(shapes[lv.loc][:2]) != tuple(shapes[lv.conf][:2]):
                raise ValueError(f'detection level {lv.loc!r}/{lv.conf!r}: loc must be (h, w, 4) '
                                 f'and conf (h, w, n); got {shapes[lv.loc]} and {shapes[lv.conf]}')

    def validate(self) -> None:
        if self.max_candidates < 1 or self.max_dets < 0:
            raise ValueError(f'{self.name}: max_candidates {self.max_candidates} / max_dets '
                             f'{self.max_dets} out of range')

    @staticmethod
    def _sinks(stream) -> Dict[int, Tuple[int, object]]:
        return {stage.detect_level: (i, stage) for i, stage in enumerate(stream.stages)
                if getattr(stage, 'detect_level', None) is not None}

    def streamed_inputs(self, stream) -> Dict[str, Shape]:
        out = {}
        for level, (_, stage) in self._sinks(stream).items():
            lv = self.levels[level]
            out[lv.loc] = tuple(stage.loc.out_shape)
            out[lv.conf] = tuple(stage.conf.out_shape)
        return out

    def streamed_tensors(self, stream, outputs) -> Dict[str, np.ndarray]:
        out = {}
        for level, (index, _) in self._sinks(stream).items():
            lv = self.levels[level]
            out[lv.loc], out[lv.conf] = outputs[index][..., :4], outputs[index][..., 4:]
        return out

    def _level_of(self, tensor: str) -> Tuple[int, str]:
        for index, lv in enumerate(self.levels):
            if tensor in (lv.loc, lv.conf):
                return index, 'loc' if tensor == lv.loc else 'conf'
        raise KeyError(tensor)

    def stream_sink(self, step, src: int, pending: dict):
        level, part = self._level_of(step.output)
        if level not in pending:
            pending[level] = (step, part)
            return None
        other, _ = pending.pop(level)
        if other.inputs != step.inputs:
            raise ValueError(f'level {level}: heads {other.layer.name} / {step.layer.name} do '
                             'not share their input rows')
        loc, conf = (step.layer, other.layer) if part == 'loc' else (other.layer, step.layer)
        return StreamHead.from_pair(level, loc, conf)

    def check_sinks_complete(self, pending: dict) -> None:
        if pending:
            names = [step.layer.name for step, _ in pending.values()]
            raise ValueError(f'layers {names}: a head pair must be streamed together')

    def consume_steps(self, program) -> List[Tuple[int, int]]:
        """``(step, level)``: each level is decoded right after its second head is written
        (streamed levels during the stream, step 0)."""
        streamed = list(self._sinks(program.stream))
        produced = {program.stream.output: 0}
        for i, step in enumerate(program.steps):
            produced[step.output] = i + 1
        order = []
        for index, lv in enumerate(self.levels):
            if index not in streamed:
                order.append((max(produced[lv.loc], produced[lv.conf]), index))
        order.sort()
        return [(0, level) for level in streamed] + order

    def inputs_at(self, key) -> List[str]:
        return [self.levels[key].loc, self.levels[key].conf]

    # ---- reference ----
    def run(self, heads: Dict[str, np.ndarray], img_w: int, img_h: int,
            order: Optional[Sequence[int]] = None) -> np.ndarray:
        """Post-processing (``rp_detect_*``): bounded candidate list, greedy NMS, top-K.

        Args:
            heads (dict[str, np.ndarray]): Head tensors by name.
            img_w (int): Image width.
            img_h (int): Image height.
            order (list[int], optional): Level indices in decoding order (candidates of equal
                score rank by level, so the order only matters within a level). Defaults to
                None (level order).

        Returns:
            np.ndarray: int32 ``(n, 7)``: x1, y1, x2, y2 (Q4), score (Q15), label, level.
        """
        cands = []
        for index in (range(len(self.levels)) if order is None else order):
            level = self.levels[index]
            cands += level.decode(index, heads[level.loc], heads[level.conf], self.score_thr,
                                  img_w, img_h)
        # the C list keeps the first max_candidates of a stable sort by descending score, then
        # ascending level (so it does not matter how streamed levels' rows interleave)
        ranked = sorted(range(len(cands)), key=lambda i: (-cands[i][4], cands[i][6]))
        ranked = ranked[:self.max_candidates]
        kept: List[Tuple[int, ...]] = []
        for i in ranked:
            if len(kept) >= self.max_dets:
                break
            if not any(_overlaps(k, cands[i], self.iou_thr) for k in kept):
                kept.append(cands[i])
        return np.array(kept, dtype=np.int32).reshape(-1, 7)

    def result(self, program, tensors: Dict[str, np.ndarray]) -> np.ndarray:
        h, w, _ = program.stream.image_shape
        order = [level for _, level in self.consume_steps(program)]
        return self.run(tensors, w, h, order)

    def result_bytes(self, result: np.ndarray) -> bytes:
        return np.int32(len(result)).tobytes() + np.asarray(result).astype('<i4').tobytes()

    # ---- C ----
    def emit(self, prefix: str, head_shapes: Optional[Dict[str, Shape]] = None
             ) -> Tuple[List[str], str]:
        """The level tables and ``rp_det_levels`` (``head_shapes``: every head tensor's shape,
        :attr:`LayerProgram.head_shapes`)."""
        p = c_ident(prefix)
        lines, inits = [], []
        for i, lv in enumerate(self.levels):
            shape = head_shapes[lv.conf]
            sub, init = lv.emit(shape, shape[2], f'{p}{i}')
            lines += sub
            inits.append(init)
        lines += [f'static const rp_detect_level {DETECT_LEVELS}[{max(len(inits), 1)}] = {{',
                  '    ' + ',\n    '.join(inits or ['{0}']), '};']
        return lines, DETECT_LEVELS

    def emit_tables(self, program, prefix: str) -> List[str]:
        return self.emit(prefix, program.head_shapes)[0]

    def c_header(self, P: str, PU: str) -> List[str]:
        return [f'#define {PU}_MAX_CANDIDATES {self.max_candidates}',
                f'#define {PU}_MAX_DETS {self.max_dets}', '',
                '/** Detections, best first (boxes in 1/16 pixel, scores in Q15). */',
                'typedef struct {', '    int32_t n;',
                f'    rp_detection dets[{PU}_MAX_DETS > 0 ? {PU}_MAX_DETS : 1];',
                f'}} {P}_result;']

    def c_ctx_fields(self, PU: str) -> List[str]:
        return ['rp_detect_ctx detect;', f'rp_detection candidates[{PU}_MAX_CANDIDATES];']

    def c_begin(self, program) -> List[str]:
        h, w, _ = program.stream.image_shape
        return [f'st = rp_detect_init(&ctx->detect, ctx->candidates, {self.max_candidates}, '
                f'{self.score_thr}, {w}, {h});']

    def c_stream_arg(self) -> str:
        return '&ctx->detect'

    def c_consume(self, program, key, tensor) -> List[str]:
        if key in self._sinks(program.stream):
            return []  # decoded row by row inside rp_stream_run
        lv = self.levels[key]
        rows = program.head_shapes[lv.conf][0]
        return [f'st = rp_detect_add_rows(&ctx->detect, &{DETECT_LEVELS}[{key}], {key}, '
                f'{tensor(lv.loc)}, {tensor(lv.conf)}, 0, {rows});']

    def c_finish(self, program, PU: str, tensor) -> List[str]:
        return [f'return rp_detect_finish(&ctx->detect, {self.iou_thr}, result->dets, '
                f'{self.max_dets}, &result->n);']

    def c_report(self, P: str) -> List[str]:
        return ['sink(user, "detections", &r->n, 1);',
                'for (int32_t i = 0; i < r->n; i++) {',
                '    const rp_detection *d = &r->dets[i];',
                '    const int32_t v[7] = {d->x1, d->y1, d->x2, d->y2, d->score, d->label, '
                'd->level};',
                '    sink(user, "det", v, 7);', '}']


__all__ = ['DetectLevel', 'DetectSpec']
