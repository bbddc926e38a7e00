"""BoxVotingTTAModel: the release's multi-scale test merged by box voting."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.dataset import pseudo_collate
from mmengine.structures import InstanceData
from torch import nn

import mmdet_rnnpool  # noqa: F401  (registration)
from mmdet_rnnpool.evaluation.metrics.wider_face_metric import PROTOCOL_KEY as METRIC_KEY
from mmdet_rnnpool.models.test_time_augs import PROTOCOL_KEY, box_vote

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SQUARE = [100., 40., 160., 80.]  # x1 y1 x2 y2 of the white patch in the original image


class BrightPatchOracle(nn.Module):
    """Stands in for a detector: reports the white patch of each view, mapped back to the
    original image by the view's scale_factor (as a real head does with rescale=True); the
    original and the 0.5x view also report a 11 px box at the same place."""

    def test_step(self, data):
        out = []
        for img, sample in zip(data['inputs'], data['data_samples']):
            ys, xs = np.nonzero((img.numpy() > 200).all(0))
            sx, sy = sample.scale_factor
            box = [xs.min() / sx, ys.min() / sy, (xs.max() + 1) / sx, (ys.max() + 1) / sy]
            boxes, scores = [box], [0.9]
            if sample.tta_view in ('original', 'shrink'):
                boxes.append([5., 5., 15., 15.])
                scores.append(0.8)
            pred = InstanceData()
            pred.bboxes = torch.tensor(boxes, dtype=torch.float32)
            pred.scores = torch.tensor(scores)
            pred.labels = torch.zeros(len(scores), dtype=torch.long)
            sample = sample.clone()
            sample.pred_instances = pred
            out.append(sample)
        return out


def _compose(pipeline):
    init_default_scope('mmdet')  # as the Runner does (default_scope='mmdet')
    return Compose(pipeline)


def _batch(tmp_path, height=200, width=300):
    img = np.full((height, width, 3), 90, np.uint8)
    x1, y1, x2, y2 = (int(v) for v in SQUARE)
    img[y1:y2, x1:x2] = 255
    path = str(tmp_path / 'img.png')  # lossless: the oracle sees the exact patch
    cv2.imwrite(path, img)
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', 'wider_face.py'))
    views = _compose(cfg.tta_pipeline)(dict(img_path=path, img_id='e/img', instances=[]))
    return pseudo_collate([views])


def test_views_merge_back_to_original_image_coordinates(tmp_path):
    model = MODELS.build(dict(type='BoxVotingTTAModel', module=BrightPatchOracle()))
    merged, = model.test_step(_batch(tmp_path))
    pred = merged.pred_instances
    # six views (original, flip, 0.5x, 2x, 4x, 5.8x) agree on the patch, unflipped and
    # unscaled; the 11 px box goes: the 0.5x view keeps only faces above 30 px, and alone in
    # the original view it has no partner to vote with
    assert pred.bboxes.shape == (1, 4)
    assert torch.allclose(pred.bboxes[0], torch.tensor(SQUARE), atol=1.5), pred.bboxes
    assert pred.scores.tolist() == pytest.approx([0.9])
    assert merged.metainfo[PROTOCOL_KEY] == 'multiscale' and merged.tta_num_views == 6
    assert PROTOCOL_KEY == METRIC_KEY  # the metric reads what the model writes


def test_size_rules_flip_and_threshold_on_hand_made_views():
    """Three views of a 100 x 200 image, predictions given by hand."""
    def view(boxes, scores, flip=False, size_filter=None):
        sample = DetDataSample(metainfo=dict(ori_shape=(100, 200), flip=flip,
                                             flip_direction='horizontal' if flip else None,
                                             tta_size_filter=size_filter))
        sample.pred_instances = InstanceData(
            bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            scores=torch.tensor(scores), labels=torch.zeros(len(scores), dtype=torch.long))
        return sample

    face = [10., 10., 49., 49.]  # 40 x 40 px (legacy sides)
    views = [
        view([face, [0., 0., 5., 5.], [120., 60., 150., 90.]], [0.9, 0.8, 0.04]),
        # flipped: x -> 200 - x; [11, 10, 50, 49] in the original image
        view([[150., 10., 189., 49.]], [0.7], flip=True),
        # the 0.5x view keeps faces above 30 px only: the 11 px box goes
        view([[12., 12., 51., 51.], [100., 60., 110., 70.]], [0.6, 0.95],
             size_filter=dict(max_side_above=30)),
    ]
    model = MODELS.build(dict(type='BoxVotingTTAModel', module=BrightPatchOracle()))
    merged, = model.merge_preds([views])
    expected = (0.9 * torch.tensor(face) + 0.7 * torch.tensor([11., 10., 50., 49.]) +
                0.6 * torch.tensor([12., 12., 51., 51.])) / 2.2
    # the 0.04 box is below score_thr 0.05, the 6 px box has no partner: both gone
    assert merged.pred_instances.bboxes.shape == (1, 4)
    assert torch.allclose(merged.pred_instances.bboxes[0], expected)
    assert merged.pred_instances.scores.tolist() == pytest.approx([0.9])
    # the same boxes straight into box_vote (no size rule, no threshold) give more groups
    flat = torch.tensor([face, [0., 0., 5., 5.], [11., 10., 50., 49.], [12., 12., 51., 51.],
                         [100., 60., 110., 70.]])
    _, scores = box_vote(flat, torch.tensor([0.9, 0.8, 0.7, 0.6, 0.95]),
                         drop_singletons=False)
    assert scores.tolist() == pytest.approx([0.95, 0.9, 0.8])


def test_bad_tta_cfg():
    with pytest.raises(ValueError, match='unknown key'):
        MODELS.build(dict(type='BoxVotingTTAModel', module=BrightPatchOracle(),
                          tta_cfg=dict(nms=dict(type='nms'))))
    with pytest.raises(ValueError, match='score_thr'):
        MODELS.build(dict(type='BoxVotingTTAModel', module=BrightPatchOracle(),
                          tta_cfg=dict(score_thr=0.0)))
