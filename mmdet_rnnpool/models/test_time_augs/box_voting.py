"""Box voting: the merge step of the S3FD-style multi-scale test.

The authors' release merges the detections of all test views by box voting rather than by
NMS: the highest-scoring remaining box and every remaining box that overlaps it at IoU >=
``iou_thr`` form a group; the group is replaced by the score-weighted mean of its boxes, scored
with the group's best score. A group of one box is dropped (the release keeps only boxes that
another view or box confirms). Overlaps use the legacy pixel convention of the release
(``w = x2 - x1 + 1``).
"""
from typing import Tuple

import torch
from torch import Tensor


def legacy_iou_with(box: Tensor, boxes: Tensor) -> Tensor:
    """IoU of one ``x1 y1 x2 y2`` box with ``(N, 4)`` boxes, sides counted as ``x2 - x1 + 1``."""
    lt = torch.maximum(box[:2], boxes[:, :2])
    rb = torch.minimum(box[2:], boxes[:, 2:])
    wh = (rb - lt + 1).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    area0 = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    return inter / (area0 + area - inter)


def box_vote(bboxes: Tensor,
             scores: Tensor,
             iou_thr: float = 0.3,
             max_num: int = 750,
             drop_singletons: bool = True) -> Tuple[Tensor, Tensor]:
    """Merge overlapping detections by score-weighted box voting.

    Args:
        bboxes (Tensor): ``(N, 4)`` boxes ``x1 y1 x2 y2``.
        scores (Tensor): ``(N,)`` scores, all > 0 (they are the voting weights).
        iou_thr (float): Boxes overlapping the group's leader at IoU >= this join the group.
            Defaults to 0.3.
        max_num (int): Keep at most this many merged boxes (the best first). Defaults to 750.
        drop_singletons (bool): Drop groups of a single box, as the release does.
            Defaults to True.

    Returns:
        tuple[Tensor, Tensor]: ``(M, 4)`` merged boxes and ``(M,)`` scores, best first.
    """
    if bboxes.ndim != 2 or bboxes.shape[-1] != 4 or scores.shape != bboxes.shape[:1]:
        raise ValueError(f'box_vote: need (N, 4) boxes and (N,) scores, got '
                         f'{tuple(bboxes.shape)} and {tuple(scores.shape)}')
    if not 0.0 < iou_thr <= 1.0:
        raise ValueError(f'box_vote: iou_thr must lie in (0, 1], got {iou_thr}')
    if scores.numel() and not bool((scores > 0).all()):
        raise ValueError('box_vote: scores are the voting weights and must be > 0')
    order = scores.argsort(descending=True, stable=True)
    boxes, weights = bboxes[order].double(), scores[order].double()
    out_boxes, out_scores = [], []
    while boxes.shape[0] and len(out_boxes) < max_num:
        in_group = legacy_iou_with(boxes[0], boxes) >= iou_thr
        in_group[0] = True  # the leader, even if degenerate
        group_boxes, group_weights = boxes[in_group], weights[in_group]
        boxes, weights = boxes[~in_group], weights[~in_group]
        if drop_singletons and group_boxes.shape[0] == 1:
            continue
        out_boxes.append((group_boxes * group_weights[:, None]).sum(0) / group_weights.sum())
        out_scores.append(group_weights.max())
    if not out_boxes:
        return bboxes.new_zeros((0, 4)), scores.new_zeros((0, ))
    return (torch.stack(out_boxes).to(bboxes.dtype), torch.stack(out_scores).to(scores.dtype))
