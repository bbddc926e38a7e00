"""S3FDAssigner on hand-made boxes: stage 1 (IoU >= 0.35 + best anchor) and compensation."""
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet_rnnpool.models.task_modules import S3FDAssigner

# Face A (10x10) overlaps anchors 0-2 well; face B (5x5) only weakly overlaps anchors 3 and 4.
ANCHORS = torch.tensor([
    [0., 0., 10., 10.],  # IoU A = 1
    [1., 0., 11., 10.],  # IoU A = 90 / 110 = 0.818
    [2., 0., 12., 10.],  # IoU A = 80 / 120 = 0.667
    [50., 50., 60., 60.],  # IoU B = 25 / 100 = 0.25 (B's best)
    [52., 50., 62., 60.],  # IoU B = 15 / 110 = 0.136
    [100., 100., 110., 110.],  # nothing
])
FACES = torch.tensor([[0., 0., 10., 10.], [50., 50., 55., 55.]])


def _assign(assigner, anchors=ANCHORS, faces=FACES, ignore=None):
    gt = InstanceData(bboxes=faces, labels=torch.zeros(len(faces), dtype=torch.long))
    ignored = None if ignore is None else InstanceData(bboxes=ignore)
    return assigner.assign(InstanceData(priors=anchors), gt, ignored)


def test_compensation_fills_face_up_to_mean():
    # Stage 1: A gets 3 anchors, B only its best (0.25 < 0.35) -> N = round(4 / 2) = 2, so B
    # also takes anchor 4 (IoU 0.136 > 0.1).
    result = _assign(S3FDAssigner())
    assert result.gt_inds.tolist() == [1, 1, 1, 2, 2, 0]
    assert result.labels.tolist() == [0, 0, 0, 0, 0, -1]
    assert result.max_overlaps[4].item() == pytest.approx(15 / 110)


def test_stage_one_alone_without_compensation_candidates():
    # Anchor 4 is below a 0.2 compensation threshold: stage 1's result stays.
    result = _assign(S3FDAssigner(compensate_iou_thr=0.2))
    assert result.gt_inds.tolist() == [1, 1, 1, 2, 0, 0]


def test_fixed_n_takes_only_anchors_above_threshold():
    # N = 3: B has 1, wants 2 more, but only anchor 4 passes IoU > 0.1; A has 3 already.
    result = _assign(S3FDAssigner(num_compensate=3))
    assert result.gt_inds.tolist() == [1, 1, 1, 2, 2, 0]
    # N = 4: A (3 anchors) may only take free anchors with IoU > 0.1: none left.
    result = _assign(S3FDAssigner(num_compensate=4))
    assert result.gt_inds.tolist() == [1, 1, 1, 2, 2, 0]


def test_contested_anchor_goes_to_higher_iou_face():
    anchors = torch.tensor([
        [-2., -2., 8., 8.],  # C's best (0.25)
        [2.5, -2., 12.5, 8.],  # C: 12.5 / 112.5 = 0.111, D: 17.5 / 107.5 = 0.163
        [6., -2., 16., 8.],  # D's best (0.25)
    ])
    faces = torch.tensor([[0., 0., 5., 5.], [9., 0., 14., 5.]])
    # Stage 1 gives each face one anchor, so the mean N = 1 compensates nobody ...
    assert _assign(S3FDAssigner(), anchors, faces).gt_inds.tolist() == [1, 0, 2]
    # ... with N = 2 both want the middle anchor; D overlaps it more.
    result = _assign(S3FDAssigner(num_compensate=2), anchors, faces)
    assert result.gt_inds.tolist() == [1, 2, 2]


def test_ignored_anchor_is_not_compensated():
    # An ignore region over 60% of anchor 4 (40% of anchor 3) keeps it out of both stages.
    result = _assign(S3FDAssigner(ignore_iof_thr=0.5),
                     ignore=torch.tensor([[56., 50., 66., 60.]]))
    assert result.gt_inds.tolist() == [1, 1, 1, 2, -1, 0]


def test_face_overlapping_no_anchor_takes_none():
    # A face away from every anchor must not grab a zero-IoU anchor as its "best".
    faces = torch.cat([FACES, torch.tensor([[200., 200., 210., 210.]])])
    result = _assign(S3FDAssigner(), faces=faces)
    assert result.gt_inds.tolist() == [1, 1, 1, 2, 2, 0]


def test_no_faces_all_negative():
    result = _assign(S3FDAssigner(), faces=torch.zeros((0, 4)))
    assert result.gt_inds.tolist() == [0] * len(ANCHORS)
    assert result.num_gts == 0


@pytest.mark.parametrize('kwargs', [dict(num_compensate=0), dict(num_compensate=1.5),
                                    dict(compensate_iou_thr=1.2)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match='S3FDAssigner'):
        S3FDAssigner(**kwargs)
