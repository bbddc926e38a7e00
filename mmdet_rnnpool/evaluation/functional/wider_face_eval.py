"""The official WIDER FACE evaluation protocol (easy / medium / hard AP), vectorised.

This follows the official MATLAB ``eval_tools`` (``wider_eval.m``) step by step:

1. Predictions of an image are sorted by score, descending (stable, like MATLAB's ``sort``).
2. Scores are min-max normalised over all predictions of all evaluated images (the running max
   starts at ``realmin('single')`` and the running min at ``realmax('single')``, as in
   ``norm_score``).
3. Per image, every prediction is compared with its single best-IoU ground-truth face (first
   face on ties), using the legacy "+1 pixel" IoU on boxes whose corners are ``x, y`` and
   ``x + w, y + h``. At IoU >= 0.5: a face outside the setting's list makes the prediction
   *ignored* (neither true nor false positive); the first match of a listed face recalls it; a
   repeat match of a listed face stays a counted proposal that recalls nothing (a false
   positive).
4. At each of 1000 thresholds ``1 - t / 1000`` (0.999 ... 0), each image contributes its
   counted proposals and recalled faces among the predictions scoring >= the threshold.
   Precision = recalled faces / counted proposals and recall = recalled faces / listed faces,
   both summed over the images.
5. AP is the VOC area under the monotone precision envelope.

Images without ground-truth faces or without predictions are skipped (as officially): their
predictions are neither true nor false positives, while the listed faces of an image without
predictions still count as misses.

The official code leaves three 0/0 cases undefined; here they are guarded as follows:

- *Precision at a threshold where no proposal is counted* (nothing scores that high) is 0.
  Recall is 0 there too, so the point never adds area: the AP equals the official one (whose
  NaN never contributes either).
- *Recall when a setting lists no face at all* is 0, so that setting's AP is 0.0 (the official
  code divides by zero). ``num_faces`` in the result tells such a setting apart.
- *All normalised scores when max == min* (e.g. every score equal) are 1, i.e. every
  prediction counts at every threshold and the curve is a single operating point (the official
  code produces NaN scores, which no threshold accepts).

Instead of the official O(predictions x thresholds) loops, each prediction is bucketed once by
the first threshold that accepts it and the 1000 sums are cumulative sums of those buckets.
"""
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np

from .wider_ground_truth import WIDER_SETTINGS, WiderGTImage

WIDER_IOU_THRESHOLD = 0.5
WIDER_NUM_THRESHOLDS = 1000


@dataclass
class WiderPRCurve:
    """The precision-recall curve and AP of one WIDER FACE setting.

    Args:
        ap (float): The VOC area under the precision envelope, in 0..1.
        precision (np.ndarray): Precision at each threshold, shape ``(T, )``.
        recall (np.ndarray): Recall at each threshold, shape ``(T, )``.
        thresholds (np.ndarray): The score thresholds ``1 - t / T``, ``t = 1 .. T``.
        num_faces (int): How many faces the setting lists in the evaluated images.
        num_images (int): How many images were evaluated.
        score_low (float): The raw score that normalises to 0. Defaults to 0.
        score_high (float): The raw score that normalises to 1. Defaults to 1.
    """
    ap: float
    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    num_faces: int
    num_images: int
    score_low: float = 0.0
    score_high: float = 1.0

    def raw_threshold(self, index: int) -> float:
        """The raw (unnormalised) score of threshold ``index``."""
        return float(self.score_low + self.thresholds[index] * (self.score_high - self.score_low))

    def best_f1(self) -> Tuple[float, float, float]:
        """The operating point with the highest F1 (e.g. a drawing threshold).

        Returns:
            tuple[float, float, float]: ``(raw score threshold, precision, recall)``; the
            highest threshold of a tie (the score of the weakest detection it keeps);
            ``(nan, 0, 0)`` when nothing is ever recalled.
        """
        denom = self.precision + self.recall
        f1 = np.divide(2 * self.precision * self.recall, denom, out=np.zeros_like(denom),
                       where=denom > 0)
        if not np.any(f1 > 0):
            return float('nan'), 0.0, 0.0
        index = int(np.argmax(f1))  # thresholds descend: the first maximum is the highest
        return self.raw_threshold(index), float(self.precision[index]), float(self.recall[index])


def wider_thresholds(num_thresholds: int = WIDER_NUM_THRESHOLDS) -> np.ndarray:
    """Return the official score thresholds ``1 - t / num_thresholds`` for ``t = 1 .. T``.

    Args:
        num_thresholds (int): How many thresholds. Defaults to 1000.

    Returns:
        np.ndarray: Decreasing float64 thresholds, the last one 0.
    """
    if num_thresholds < 1:
        raise ValueError(f'num_thresholds must be >= 1, got {num_thresholds}')
    return 1.0 - np.arange(1, num_thresholds + 1, dtype=np.float64) / num_thresholds


def xywh_to_corners(boxes: np.ndarray) -> np.ndarray:
    """Convert official ``x y w h`` boxes to the ``x1 y1 x2 y2 = x y x+w y+h`` corners.

    Args:
        boxes (np.ndarray): ``(N, 4)`` boxes.

    Returns:
        np.ndarray: ``(N, 4)`` float64 corners.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:4]], axis=1)


def legacy_box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU with the legacy "+1 pixel" width/height convention (``x2 - x1 + 1``).

    Pairs whose intersection has a width or height <= 0 get IoU 0, as in the official
    ``boxoverlap``.

    Args:
        boxes1 (np.ndarray): ``(N, 4)`` corners ``x1 y1 x2 y2``.
        boxes2 (np.ndarray): ``(M, 4)`` corners ``x1 y1 x2 y2``.

    Returns:
        np.ndarray: ``(N, M)`` IoU.
    """
    b1 = np.asarray(boxes1, dtype=np.float64)[:, None, :]
    b2 = np.asarray(boxes2, dtype=np.float64)[None, :, :]
    iw = np.minimum(b1[..., 2], b2[..., 2]) - np.maximum(b1[..., 0], b2[..., 0]) + 1
    ih = np.minimum(b1[..., 3], b2[..., 3]) - np.maximum(b1[..., 1], b2[..., 1]) + 1
    inter = iw * ih
    area1 = (b1[..., 2] - b1[..., 0] + 1) * (b1[..., 3] - b1[..., 1] + 1)
    area2 = (b2[..., 2] - b2[..., 0] + 1) * (b2[..., 3] - b2[..., 1] + 1)
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = inter / (area1 + area2 - inter)
    iou[(iw <= 0) | (ih <= 0)] = 0.0
    # degenerate (negative-size) boxes can give NaN; MATLAB's max skips NaN, so never match them
    iou[np.isnan(iou)] = -np.inf
    return iou


def wider_voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC AP: the area under the monotone (right-to-left maximum) precision envelope.

    Args:
        recall (np.ndarray): Non-decreasing recall values.
        precision (np.ndarray): Precision at the same points.

    Returns:
        float: The AP.
    """
    mrec = np.concatenate(([0.0], np.asarray(recall, dtype=np.float64), [1.0]))
    mpre = np.concatenate(([0.0], np.asarray(precision, dtype=np.float64), [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps]))


def _check_predictions(key: str, preds) -> np.ndarray:
    preds = np.asarray(preds, dtype=np.float64)
    if preds.size == 0:
        return preds.reshape(0, 5)
    if preds.ndim != 2 or preds.shape[1] != 5:
        raise ValueError(f'predictions of {key!r} must have shape (K, 5) '
                         f'(x y w h score), got {preds.shape}')
    if not np.isfinite(preds).all():
        raise ValueError(f'predictions of {key!r} contain non-finite values')
    return preds


def normalize_wider_scores(score_lists: Iterable[np.ndarray]) -> Tuple[float, float]:
    """Return the ``(min, max)`` the official ``norm_score`` uses for normalisation.

    Args:
        score_lists (Iterable[np.ndarray]): The scores of each image.

    Returns:
        tuple[float, float]: ``min`` starts from ``realmax('single')`` and ``max`` from
        ``realmin('single')``, like the official code.
    """
    low = float(np.finfo(np.float32).max)
    high = float(np.finfo(np.float32).tiny)
    for scores in score_lists:
        if len(scores):
            low = min(low, float(np.min(scores)))
            high = max(high, float(np.max(scores)))
    return low, high


def evaluate_wider(gt_images: List[WiderGTImage],
                   predictions: Mapping[str, np.ndarray],
                   settings: Iterable[str] = WIDER_SETTINGS,
                   max_faces: Optional[int] = None,
                   iou_threshold: float = WIDER_IOU_THRESHOLD,
                   num_thresholds: int = WIDER_NUM_THRESHOLDS) -> Dict[str, WiderPRCurve]:
    """Evaluate predictions with the official WIDER FACE protocol.

    Args:
        gt_images (list[WiderGTImage]): The ground truth, e.g. from
            :func:`load_wider_ground_truth`.
        predictions (Mapping[str, np.ndarray]): ``'<event>/<name>'`` -> ``(K, 5)`` array of
            ``x y w h score`` (the official text layout). Images of ``gt_images`` that are
            missing have no predictions; keys that are not in ``gt_images`` raise ValueError.
        settings (Iterable[str]): Which settings to evaluate. Defaults to
            ``('easy', 'medium', 'hard')``.
        max_faces (int, optional): If set, only images with at most this many ground-truth
            faces (all faces, listed or not) are evaluated, as a dataset of their own (the
            score normalisation included). Defaults to None.
        iou_threshold (float): The IoU that makes a match. Defaults to 0.5.
        num_thresholds (int): How many score thresholds. Defaults to 1000.

    Returns:
        dict[str, WiderPRCurve]: One curve per setting.
    """
    settings = tuple(settings)
    for setting in settings:
        if setting not in WIDER_SETTINGS:
            raise ValueError(f'unknown WIDER setting {setting!r}; choose from {WIDER_SETTINGS}')
    gt_keys = set()
    for image in gt_images:
        if image.key in gt_keys:
            raise ValueError(f'ground truth lists image {image.key!r} twice')
        gt_keys.add(image.key)
    unknown = [key for key in predictions if key not in gt_keys]
    if unknown:
        raise ValueError(f'{len(unknown)} predicted image(s) are not in the ground truth, '
                         f'e.g. {unknown[0]!r} (keys must be "<event>/<name>")')

    images = [im for im in gt_images if max_faces is None or len(im.boxes) <= max_faces]
    preds = {}
    for image in images:
        p = _check_predictions(image.key, predictions.get(image.key, np.zeros((0, 5))))
        # stable descending sort by the raw score, as the official reader does
        preds[image.key] = p[np.argsort(-p[:, 4], kind='stable')]
    low, high = normalize_wider_scores(p[:, 4] for p in preds.values())

    thresholds = wider_thresholds(num_thresholds)
    thresholds_ascending = thresholds[::-1]
    # per prediction: normalised score, whether it is a counted proposal, whether it
    # newly recalls a listed face - concatenated over images, per setting
    scores: List[np.ndarray] = []
    proposals: Dict[str, List[np.ndarray]] = {s: [] for s in settings}
    recalls: Dict[str, List[np.ndarray]] = {s: [] for s in settings}
    num_faces = {s: 0 for s in settings}
    for image in images:
        for setting in settings:
            num_faces[setting] += len(image.settings[setting])
        pred = preds[image.key]
        if len(image.boxes) == 0 or len(pred) == 0:
            continue  # official: skipped, listed faces (if any) stay missed
        if high > low:
            scores.append((pred[:, 4] - low) / (high - low))
        else:
            scores.append(np.ones(len(pred)))
        iou = legacy_box_iou(xywh_to_corners(pred[:, :4]), xywh_to_corners(image.boxes))
        best = np.argmax(iou, axis=1)
        matched = iou[np.arange(len(pred)), best] >= iou_threshold
        for setting in settings:
            listed = np.zeros(len(image.boxes), dtype=bool)
            listed[image.settings[setting] - 1] = True
            hits = matched & listed[best]
            proposals[setting].append(~(matched & ~listed[best]))
            newly_recalled = np.zeros(len(pred), dtype=bool)
            hit_index = np.nonzero(hits)[0]
            _, first = np.unique(best[hit_index], return_index=True)
            newly_recalled[hit_index[first]] = True
            recalls[setting].append(newly_recalled)

    if scores:
        all_scores = np.concatenate(scores)
        # number of thresholds <= score -> index of the first threshold accepting it
        first_threshold = num_thresholds - np.searchsorted(
            thresholds_ascending, all_scores, side='right')
    else:
        first_threshold = np.zeros(0, dtype=np.int64)

    results = {}
    for setting in settings:
        if scores:
            counted = np.cumsum(
                np.bincount(first_threshold, np.concatenate(proposals[setting]),
                            minlength=num_thresholds + 1))[:num_thresholds]
            recalled = np.cumsum(
                np.bincount(first_threshold, np.concatenate(recalls[setting]),
                            minlength=num_thresholds + 1))[:num_thresholds]
        else:
            counted = recalled = np.zeros(num_thresholds)
        precision = np.divide(recalled, counted, out=np.zeros(num_thresholds), where=counted > 0)
        faces = num_faces[setting]
        recall = recalled / faces if faces else np.zeros(num_thresholds)
        results[setting] = WiderPRCurve(
            ap=wider_voc_ap(recall, precision),
            precision=precision,
            recall=recall,
            thresholds=thresholds,
            num_faces=faces,
            num_images=len(images),
            score_low=float(low),
            score_high=float(high))
    return results
