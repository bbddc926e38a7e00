"""Merge multi-scale, flipped test views by box voting (the authors' WIDER FACE test)."""
from typing import List, Optional

import torch
from mmdet.models.test_time_augs import DetTTAModel
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData
from torch import Tensor

from .box_voting import box_vote

#: The metainfo key a test view uses to say which of its detections count (see
#: :class:`mmdet_rnnpool.datasets.transforms.S3FDMultiScaleAug`).
SIZE_FILTER_KEY = 'tta_size_filter'
#: The metainfo key of the merged sample naming the test protocol (read by WIDERFaceMetric).
PROTOCOL_KEY = 'test_protocol'

_DEFAULT_TTA_CFG = dict(score_thr=0.05, iou_thr=0.3, max_per_img=750, drop_singletons=True,
                        protocol='multiscale')


def size_filter_mask(bboxes: Tensor, rule: Optional[dict]) -> Tensor:
    """Which boxes a view keeps, by the release's size rule (sides counted ``x2 - x1 + 1``).

    Args:
        bboxes (Tensor): ``(N, 4)`` boxes in original-image pixels.
        rule (dict, optional): ``dict(max_side_above=30)`` keeps boxes whose longer side is
            above 30 px; ``dict(min_side_below=100)`` those whose shorter side is below 100;
            None keeps all.
    """
    keep = bboxes.new_ones(bboxes.shape[0], dtype=torch.bool)
    if not rule:
        return keep
    unknown = set(rule) - {'max_side_above', 'min_side_below'}
    if unknown:
        raise ValueError(f'{SIZE_FILTER_KEY}: unknown rule(s) {sorted(unknown)}; use '
                         'max_side_above and / or min_side_below')
    sides = torch.stack([bboxes[:, 2] - bboxes[:, 0] + 1, bboxes[:, 3] - bboxes[:, 1] + 1], 1)
    if 'max_side_above' in rule:
        keep &= sides.max(1).values > rule['max_side_above']
    if 'min_side_below' in rule:
        keep &= sides.min(1).values < rule['min_side_below']
    return keep


@MODELS.register_module()
class BoxVotingTTAModel(DetTTAModel):
    """:class:`mmdet.models.DetTTAModel` that merges the views by box voting, not NMS.

    Each view's detections (already NMS-ed by the detector's ``test_cfg``, mapped back to the
    original image by its ``scale_factor``) are unflipped (``DetTTAModel.merge_aug_bboxes``),
    filtered by the view's size rule (metainfo ``tta_size_filter``, e.g. the 0.5x view keeps
    only faces above 30 px), pooled, thresholded at ``score_thr`` and merged per class by
    :func:`box_vote`. The merged sample's metainfo ``test_protocol`` names the protocol, so the
    metric can say which protocol its numbers come from.

    Args:
        tta_cfg (dict, optional): ``score_thr`` (0.05), ``iou_thr`` (0.3), ``max_per_img``
            (750), ``drop_singletons`` (True) and ``protocol`` (``'multiscale'``): the
            release's values by default.
        **kwargs: ``module`` (the detector config) and ``data_preprocessor``, as for
            :class:`mmengine.model.BaseTTAModel`.
    """

    def __init__(self, tta_cfg: Optional[dict] = None, **kwargs) -> None:
        cfg = dict(_DEFAULT_TTA_CFG)
        unknown = set(tta_cfg or {}) - set(cfg)
        if unknown:
            raise ValueError(f'BoxVotingTTAModel.tta_cfg: unknown key(s) {sorted(unknown)}; '
                             f'known: {sorted(cfg)}')
        cfg.update(tta_cfg or {})
        if not 0.0 < cfg['score_thr']:
            raise ValueError('BoxVotingTTAModel.tta_cfg.score_thr must be > 0 (scores are '
                             f"the voting weights), got {cfg['score_thr']}")
        super().__init__(tta_cfg=cfg, **kwargs)

    def _merge_single_sample(self, data_samples: List[DetDataSample]) -> DetDataSample:
        boxes, scores, labels, metas = [], [], [], []
        for sample in data_samples:
            pred = sample.pred_instances
            # box sizes do not change under a flip: the rule reads the view's boxes as they are
            keep = size_filter_mask(pred.bboxes, sample.metainfo.get(SIZE_FILTER_KEY))
            boxes.append(pred.bboxes[keep])
            scores.append(pred.scores[keep])
            labels.append(pred.labels[keep])
            metas.append(sample.metainfo)
        merged_boxes, merged_scores = self.merge_aug_bboxes(boxes, scores, metas)
        merged_labels = torch.cat(labels)
        keep = merged_scores >= self.tta_cfg['score_thr']
        merged_boxes, merged_scores = merged_boxes[keep], merged_scores[keep]
        merged_labels = merged_labels[keep]

        out_boxes, out_scores, out_labels = [], [], []
        for label in merged_labels.unique():
            of_label = merged_labels == label
            voted_boxes, voted_scores = box_vote(
                merged_boxes[of_label], merged_scores[of_label],
                iou_thr=self.tta_cfg['iou_thr'], max_num=self.tta_cfg['max_per_img'],
                drop_singletons=self.tta_cfg['drop_singletons'])
            out_boxes.append(voted_boxes)
            out_scores.append(voted_scores)
            out_labels.append(torch.full_like(voted_scores, int(label), dtype=torch.long))
        results = InstanceData()
        if out_boxes:
            bboxes, scores_, labels_ = (torch.cat(out_boxes), torch.cat(out_scores),
                                        torch.cat(out_labels))
            order = scores_.argsort(descending=True)[:self.tta_cfg['max_per_img']]
            results.bboxes, results.scores, results.labels = \
                bboxes[order], scores_[order], labels_[order]
        else:
            results.bboxes = merged_boxes.new_zeros((0, 4))
            results.scores = merged_scores.new_zeros((0, ))
            results.labels = merged_labels.new_zeros((0, ))
        merged = data_samples[0]
        merged.pred_instances = results
        merged.set_metainfo({PROTOCOL_KEY: self.tta_cfg['protocol'],
                             'tta_num_views': len(data_samples)})
        return merged
