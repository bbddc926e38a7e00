"""Float model vs int8 program: detections (decoded the C's way in float) and classifications.

The int8 side is always the integer reference (bit-exact with the C); the float side decodes
with the same algorithm as the C (:func:`float_detections` equals mmdet's ``predict_by_feat``
for one anchor per location), so only quantisation differs between them.
"""
import math
from dataclasses import replace
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from .calibrate import model_inputs
from .detect_tables import score_to_q15
from .ir import LayerProgram
from .planner import detect_order
from .reference import detect, run_program


def float_detections(heads: Dict[str, np.ndarray], program: LayerProgram,
                     geometry: Sequence[dict], img_w: int, img_h: int, score_thr: float,
                     iou_thr: float, max_dets: int) -> np.ndarray:
    """Float decode + NMS of float head outputs, the same algorithm as the C (for comparison).

    Like the C, boxes with zero width or height once clipped to the image are dropped (mmdet
    does the same with ``min_bbox_size=0``, the configs' setting).

    Args:
        heads (dict[str, np.ndarray]): Float head outputs (HWC) by tensor name.
        program (LayerProgram): The program (level tensor names, fg index).
        geometry (Sequence[dict]): Per level anchors and coder parameters.
        img_w (int): Image width.
        img_h (int): Image height.
        score_thr (float): Score threshold.
        iou_thr (float): NMS IoU threshold.
        max_dets (int): Detections out.

    Returns:
        np.ndarray: ``(n, 5)`` x1, y1, x2, y2 (pixels), score.
    """
    boxes, scores = [], []
    for lv, geo in zip(program.detect.levels, geometry):
        loc, conf = heads[lv.loc], heads[lv.conf]
        fh, fw = conf.shape[:2]
        fg = conf[..., lv.fg_index]
        bg = np.delete(conf, lv.fg_index, axis=2).max(axis=2)
        score = 1.0 / (1.0 + np.exp(-(fg - bg)))
        ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing='ij')
        aw, ah = geo['anchor_w'], geo['anchor_h']
        m, s = geo['means'], geo['stds']
        cx = geo['cx0'] + xs * geo['step_x'] + (loc[..., 0] * s[0] + m[0]) * aw
        cy = geo['cy0'] + ys * geo['step_y'] + (loc[..., 1] * s[1] + m[1]) * ah
        max_ratio = abs(math.log(geo['wh_ratio_clip']))
        bw = aw * np.exp(np.clip(loc[..., 2] * s[2] + m[2], -max_ratio, max_ratio))
        bh = ah * np.exp(np.clip(loc[..., 3] * s[3] + m[3], -max_ratio, max_ratio))
        b = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1).reshape(-1, 4)
        b[:, 0::2] = b[:, 0::2].clip(0, img_w)
        b[:, 1::2] = b[:, 1::2].clip(0, img_h)
        # like the C (and mmdet's min_bbox_size = 0): boxes empty after clipping are dropped
        score = np.where((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]), score.reshape(-1), -1.0)
        boxes.append(b)
        scores.append(score)
    boxes, scores = np.concatenate(boxes), np.concatenate(scores)
    order = np.argsort(-scores, kind='stable')
    kept = []
    for i in order:
        if scores[i] < score_thr or len(kept) >= max_dets:
            break
        if all(box_iou(boxes[i], boxes[k]) <= iou_thr for k in kept):
            kept.append(i)
    return np.concatenate([boxes[kept], scores[kept, None]], 1) if kept else np.zeros((0, 5))


def float_head_outputs(model: nn.Module, images: Sequence[np.ndarray]
                       ) -> List[Dict[str, np.ndarray]]:
    """Float head outputs (HWC, named like the program's head tensors) of each image.

    The images go through the same normalisation as the exported program's folded first
    convolution; the raw conv outputs are taken (S3FD max-out is applied by the decoder,
    :func:`float_detections`, exactly as the C does).

    Args:
        model (nn.Module): The detector (eval mode).
        images (Sequence[np.ndarray]): uint8 RGB / grey HWC images of the model's size.

    Returns:
        list[dict[str, np.ndarray]]: ``head{level}_loc`` / ``head{level}_conf`` per image.
    """
    model.eval()
    head = model.bbox_head
    outputs: Dict[str, np.ndarray] = {}
    handles = []
    for level in range(len(head.cls_convs)):
        for kind, mod in (('conf', head.cls_convs[level]), ('loc', head.reg_convs[level])):
            def hook(_mod, _inp, out, key=f'head{level}_{kind}'):
                outputs[key] = out[0].detach().permute(1, 2, 0).numpy()
            handles.append(mod.register_forward_hook(hook))
    result = []
    try:
        with torch.no_grad():
            for image in images:
                x, _ = model_inputs(model, [image])
                head.forward_layers(model.backbone(x))
                result.append(dict(outputs))
    finally:
        for handle in handles:
            handle.remove()
    return result


def match_detections(reference: np.ndarray, other: np.ndarray) -> List[tuple]:
    """Greedy one-to-one matching by IoU, in decreasing reference score.

    Args:
        reference (np.ndarray): ``(n, 5)`` boxes + score (e.g. the float model's).
        other (np.ndarray): ``(m, 5)`` boxes + score (e.g. the int8 program's).

    Returns:
        list[tuple]: ``(i, j, iou)`` per reference detection; ``j = -1``, ``iou = 0`` when
        nothing is left to match it.
    """
    used = set()
    pairs = []
    for i in np.argsort(-reference[:, 4], kind='stable') if len(reference) else []:
        best, best_iou = -1, 0.0
        for j in range(len(other)):
            if j not in used:
                iou = box_iou(reference[i, :4], other[j, :4])
                if iou > best_iou:
                    best, best_iou = j, iou
        if best >= 0:
            used.add(best)
        pairs.append((int(i), best, best_iou))
    return pairs


def detection_parity(float_dets: Sequence[np.ndarray], int_dets: Sequence[np.ndarray],
                     score_thr: float, score_margin: float = 0.1,
                     iou_thr: float = 0.9) -> dict:
    """Float-vs-int8 detection agreement over images.

    A float detection with score >= ``score_thr`` is *matched* when the int8 detections
    (down to ``score_thr - score_margin``, so that a score just across the threshold is not
    counted as a miss) hold a box with IoU >= ``iou_thr`` (greedy one-to-one matching); the
    same is measured the other way round (int8 detections >= ``score_thr`` against float
    ones down to the margin).

    Args:
        float_dets (Sequence[np.ndarray]): Per image ``(n, 5)`` float detections, decoded
            down to ``score_thr - score_margin``.
        int_dets (Sequence[np.ndarray]): Per image ``(m, 5)`` int8 detections (pixels,
            probability score), decoded down to the same threshold.
        score_thr (float): Detections counted from this score.
        score_margin (float): Score tolerance of the partner detection. Defaults to 0.1.
        iou_thr (float): IoU of a match. Defaults to 0.9.

    Returns:
        dict: counts, matched fractions both ways, IoU and score-difference statistics.
    """
    ious, score_diffs, missed_scores = [], [], []
    n_float = n_int = int_matched = 0
    for fd, idt in zip(float_dets, int_dets):
        fd, idt = np.asarray(fd).reshape(-1, 5), np.asarray(idt).reshape(-1, 5)
        low = score_thr - score_margin
        fd, idt = fd[fd[:, 4] >= low], idt[idt[:, 4] >= low]
        fsel, isel = fd[fd[:, 4] >= score_thr], idt[idt[:, 4] >= score_thr]
        n_float += len(fsel)
        n_int += len(isel)
        for i, j, iou in match_detections(fsel, idt):
            ious.append(iou)
            if iou >= iou_thr:
                score_diffs.append(float(idt[j, 4] - fsel[i, 4]))
            else:
                missed_scores.append(float(fsel[i, 4]))
        int_matched += sum(iou >= iou_thr for _, _, iou in match_detections(isel, fd))
    ious = np.asarray(ious)
    matched = int((ious >= iou_thr).sum())
    diffs = np.abs(score_diffs) if score_diffs else np.zeros(1)
    return dict(
        images=len(float_dets), score_thr=score_thr, score_margin=score_margin,
        iou_thr=iou_thr, float_detections=n_float, int_detections=n_int, matched=matched,
        iou_ge_thr_fraction=round(matched / n_float, 4) if n_float else None,
        iou_ge_0_5_fraction=(round(float((ious >= 0.5).sum()) / n_float, 4) if n_float
                             else None),
        int_matched=int(int_matched),
        int_iou_ge_thr_fraction=round(int_matched / n_int, 4) if n_int else None,
        mean_iou=round(float(ious.mean()), 4) if len(ious) else None,
        median_iou=round(float(np.median(ious)), 4) if len(ious) else None,
        score_abs_diff_mean=round(float(diffs.mean()), 4),
        score_abs_diff_max=round(float(diffs.max()), 4),
        score_diff_mean=round(float(np.mean(score_diffs)), 4) if score_diffs else 0.0,
        unmatched_float_scores=[round(s, 3) for s in sorted(missed_scores, reverse=True)[:10]])


def measure_parity(model: nn.Module, result, images: Sequence[np.ndarray],
                   score_thr: float = 0.5, score_margin: float = 0.1, iou_thr: float = 0.9,
                   on_image: Optional[Callable] = None, extra_score_thrs: Sequence[float] = (),
                   log=print) -> dict:
    """Float model vs exported int8 program: detections on images (see
    :func:`detection_parity`).

    The int8 side is the integer reference (bit-exact with the C); both sides decode with the
    same algorithm (:func:`float_detections` equals mmdet's ``predict_by_feat``) down to
    ``score_thr - score_margin``, with room for 512 candidates and 100 detections, so the
    deployed top-K / candidate bounds do not enter the comparison.

    Args:
        model (nn.Module): The float detector (eval mode).
        result: The export (``.program`` and ``.geometry``: an ExportResult or the pipeline's
            mapped model).
        images (Sequence[np.ndarray]): uint8 HWC images of the model's size (ideally not the
            calibration images).
        score_thr (float): Detections counted from this score. Defaults to 0.5.
        score_margin (float): Score tolerance of the partner detection. Defaults to 0.1.
        iou_thr (float): IoU of a match. Defaults to 0.9.
        on_image (callable, optional): Called as ``on_image(index, image, tensors, dets)``
            with the reference tensors and the deployed program's detections of each image
            (e.g. to compare a build with them). Defaults to None.
        extra_score_thrs (Sequence[float]): Further score thresholds measured on the same
            detections (greedy NMS never lets a lower score suppress a higher one, so decoding
            down to the lowest threshold leaves the detections above each one unchanged);
            their statistics go to ``by_score_thr[str(thr)]``. Defaults to ().
        log (callable): Progress printer. Defaults to print.

    Returns:
        dict: :func:`detection_parity`'s statistics (at ``score_thr``), plus ``by_score_thr``
        when ``extra_score_thrs`` are given.
    """
    program = result.program
    h, w, _ = program.stream.image_shape
    low = max(min([score_thr, *extra_score_thrs]) - score_margin, 0.0)
    spec = replace(program.detect, score_thr=score_to_q15(low),
                   max_candidates=max(512, program.detect.max_candidates),
                   max_dets=max(100, program.detect.max_dets))
    order = [level for _, level in detect_order(program)]
    float_dets, int_dets = [], []
    for index, image in enumerate(images):
        heads = float_head_outputs(model, [image])[0]
        float_dets.append(float_detections(heads, program, result.geometry, w, h, low,
                                           program.detect.iou_thr / 32767, spec.max_dets))
        tensors, dets = run_program(program, image)
        if on_image is not None:
            on_image(index, image, tensors, dets)
        q = detect(spec, tensors, w, h, order)
        int_dets.append(np.concatenate([q[:, :4] / 16.0, q[:, 4:5] / 32767.0], 1))
        if (index + 1) % 10 == 0 or index + 1 == len(images):
            log(f'  parity: {index + 1}/{len(images)} images')
    stats = detection_parity(float_dets, int_dets, score_thr, score_margin, iou_thr)
    if extra_score_thrs:
        stats['by_score_thr'] = {
            str(thr): detection_parity(float_dets, int_dets, thr, score_margin, iou_thr)
            for thr in extra_score_thrs}
    return stats


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``(x1, y1, x2, y2)`` boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def classification_parity(float_logits: Sequence[np.ndarray],
                          int_logits: Sequence[np.ndarray]) -> dict:
    """Top-1 agreement of float and int8 logits over images.

    Args:
        float_logits (Sequence[np.ndarray]): Per image ``(num_classes,)`` float logits.
        int_logits (Sequence[np.ndarray]): Per image ``(num_classes,)`` int8 logits (or
            dequantised ones; only their order matters).

    Returns:
        dict: ``images``, ``top1_agreement`` (fraction), ``disagreements`` (image indices).
    """
    pairs = [(np.argmax(np.asarray(f).reshape(-1)), np.argmax(np.asarray(q).reshape(-1)))
             for f, q in zip(float_logits, int_logits)]
    bad = [i for i, (a, b) in enumerate(pairs) if a != b]
    return dict(images=len(pairs),
                top1_agreement=round(1 - len(bad) / len(pairs), 4) if pairs else None,
                disagreements=bad)


def measure_classification_parity(model: nn.Module, result, images: Sequence[np.ndarray],
                                  on_image: Optional[Callable] = None, log=print) -> dict:
    """Float classifier vs its int8 program: top-1 agreement on images.

    Args:
        model (nn.Module): The float classifier (eval mode).
        result: The export (``.program`` and ``.graph``, whose last output is the logits).
        images (Sequence[np.ndarray]): uint8 HWC images of the model's size.
        on_image (callable, optional): ``on_image(index, image, tensors, output)`` with the
            reference's tensors and output of each image. Defaults to None.
        log (callable): Progress printer. Defaults to print.

    Returns:
        dict: :func:`classification_parity`'s statistics.
    """
    from .pipeline import layers_forward
    graph = result.graph
    index, _ = graph.outputs[-1]
    logits = next(n.name for n in graph.nodes if n.index == index)
    forward = layers_forward(model)
    float_logits, int_logits = [], []
    for i, image in enumerate(images):
        x, _ = model_inputs(model, [image])
        with torch.no_grad():
            out = forward(x)
        float_logits.append(np.asarray(out[-1] if isinstance(out, (list, tuple)) else out)[0])
        tensors, output = run_program(result.program, image)
        if on_image is not None:
            on_image(i, image, tensors, output)
        int_logits.append(tensors[logits].reshape(-1))
        if (i + 1) % 10 == 0 or i + 1 == len(images):
            log(f'  parity: {i + 1}/{len(images)} images')
    return classification_parity(float_logits, int_logits)


__all__ = ['measure_classification_parity', 'float_detections', 'float_head_outputs', 'match_detections', 'detection_parity',
           'measure_parity', 'box_iou', 'classification_parity']
