"""S3FDAssigner on hand-made boxes: stage 1 (IoU >= 0.35 + best anchor) and both compensation
rules (the release's global top-N, the S3FD paper's per-face top-up)."""
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


def test_per_face_compensation_fills_face_up_to_mean():
    # Stage 1: A gets 3 anchors, B only its best (0.25 < 0.35) -> N = round(4 / 2) = 2, so B
    # also takes anchor 4 (IoU 0.136 > 0.1).
    result = _assign(S3FDAssigner(compensation='per_face'))
    assert result.gt_inds.tolist() == [1, 1, 1, 2, 2, 0]
    assert result.labels.tolist() == [0, 0, 0, 0, 0, -1]
    assert result.max_overlaps[4].item() == pytest.approx(15 / 110)


@pytest.mark.parametrize('rule', ['release', 'per_face'])
def test_stage_one_alone_without_compensation_candidates(rule):
    # Anchor 4 is below a 0.2 compensation threshold: stage 1's result stays.
    result = _assign(S3FDAssigner(compensate_iou_thr=0.2, compensation=rule))
    assert result.gt_inds.tolist() == [1, 1, 1, 2, 0, 0]


def test_per_face_fixed_n_takes_only_anchors_above_threshold():
    # N = 3: B has 1, wants 2 more, but only anchor 4 passes IoU > 0.1; A has 3 already.
    result = _assign(S3FDAssigner(compensation='per_face', num_compensate=3))
    assert result.gt_inds.tolist() == [1, 1, 1, 2, 2, 0]
    # N = 4: A (3 anchors) may only take free anchors with IoU > 0.1: none left.
    result = _assign(S3FDAssigner(compensation='per_face', num_compensate=4))
    assert result.gt_inds.tolist() == [1, 1, 1, 2, 2, 0]


def test_per_face_contested_anchor_goes_to_higher_iou_face():
    anchors = torch.tensor([
        [-2., -2., 8., 8.],  # C's best (0.25)
        [2.5, -2., 12.5, 8.],  # C: 12.5 / 112.5 = 0.111, D: 17.5 / 107.5 = 0.163
        [6., -2., 16., 8.],  # D's best (0.25)
    ])
    faces = torch.tensor([[0., 0., 5., 5.], [9., 0., 14., 5.]])
    # Stage 1 gives each face one anchor, so the mean N = 1 compensates nobody ...
    per_face = S3FDAssigner(compensation='per_face')
    assert _assign(per_face, anchors, faces).gt_inds.tolist() == [1, 0, 2]
    # ... with N = 2 both want the middle anchor; D overlaps it more.
    result = _assign(S3FDAssigner(compensation='per_face', num_compensate=2), anchors, faces)
    assert result.gt_inds.tolist() == [1, 2, 2]


@pytest.mark.parametrize('rule', ['release', 'per_face'])
def test_ignored_anchor_is_not_compensated(rule):
    # An ignore region over 60% of anchor 4 (40% of anchor 3) keeps it out of both stages.
    result = _assign(S3FDAssigner(ignore_iof_thr=0.5, compensation=rule),
                     ignore=torch.tensor([[56., 50., 66., 60.]]))
    assert result.gt_inds.tolist() == [1, 1, 1, 2, -1, 0]


@pytest.mark.parametrize('rule', ['release', 'per_face'])
def test_face_overlapping_no_anchor_takes_none(rule):
    # A face away from every anchor must not grab a zero-IoU anchor as its "best".
    faces = torch.cat([FACES, torch.tensor([[200., 200., 210., 210.]])])
    result = _assign(S3FDAssigner(compensation=rule), faces=faces)
    assert result.gt_inds.tolist() == [1, 1, 1, 2, 2, 0]


def test_no_faces_all_negative():
    result = _assign(S3FDAssigner(), faces=torch.zeros((0, 4)))
    assert result.gt_inds.tolist() == [0] * len(ANCHORS)
    assert result.num_gts == 0


# Face E (10x10 at the origin) and face F (10x10 at (50, 50)); anchors a0..a3 near E, b0..b1
# near F (IoU in the comments).
E_F_FACES = torch.tensor([[0., 0., 10., 10.], [50., 50., 60., 60.]])
E_F_ANCHORS = torch.tensor([
    [0., 0., 10., 10.],  # a0: E 1.0 (E's best)
    [4., 0., 14., 10.],  # a1: E 60 / 140 = 0.429 (stage-1 positive)
    [5.5, 0., 15.5, 10.],  # a2: E 45 / 155 = 0.290
    [7., 0., 17., 10.],  # a3: E 30 / 170 = 0.176
    [50., 50., 60., 60.],  # b0: F 1.0 (F's best)
    [58., 50., 68., 60.],  # b1: F 20 / 180 = 0.111
])


def test_release_compensation_is_global_top_n():
    # N = (2 faces >= 0.35 + 2 faces >= 0.5) // 2 = 2: the image's two best candidates (a2,
    # a3, both E's) win over F's b1, though E has 2 anchors after stage 1 and F only 1.
    result = _assign(S3FDAssigner(), E_F_ANCHORS, E_F_FACES)
    assert result.gt_inds.tolist() == [1, 1, 1, 1, 2, 0]
    assert result.labels.tolist() == [0, 0, 0, 0, 0, -1]
    # The per-face rule (mean 1.5 -> 2) tops F up with b1 instead and leaves E alone.
    result = _assign(S3FDAssigner(compensation='per_face'), E_F_ANCHORS, E_F_FACES)
    assert result.gt_inds.tolist() == [1, 1, 0, 0, 2, 2]


def test_release_count_uses_both_thresholds():
    # F's best anchor is moved to IoU 0.429 (>= 0.35, < 0.5): N = (2 + 1) // 2 = 1, so only
    # the best candidate (a2) is compensated.
    anchors = E_F_ANCHORS.clone()
    anchors[4] = torch.tensor([54., 50., 64., 60.])
    result = _assign(S3FDAssigner(), anchors, E_F_FACES)
    assert result.gt_inds.tolist() == [1, 1, 1, 0, 2, 0]
    # With the count threshold at 0.4 F counts twice: N = 2, a3 joins.
    result = _assign(S3FDAssigner(compensate_count_thr=0.4), anchors, E_F_FACES)
    assert result.gt_inds.tolist() == [1, 1, 1, 1, 2, 0]


def test_release_candidate_goes_to_its_best_face():
    # Anchor 2 overlaps both faces above 0.1 (face 0: 30 / 190 = 0.158, face 1: 50 / 170 =
    # 0.294); N = (2 + 2) // 2 = 2 but it is the only candidate, compensated for face 1.
    anchors = torch.tensor([[0., 0., 10., 10.], [14., 0., 24., 10.], [7., 0., 19., 10.]])
    faces = torch.tensor([[0., 0., 10., 10.], [14., 0., 24., 10.]])
    result = _assign(S3FDAssigner(), anchors, faces)
    assert result.gt_inds.tolist() == [1, 2, 2]
    assert result.max_overlaps[2].item() == pytest.approx(50 / 170)


@pytest.mark.parametrize('kwargs', [dict(num_compensate=0), dict(num_compensate=1.5),
                                    dict(compensate_iou_thr=1.2),
                                    dict(compensation='mean'),
                                    dict(compensate_count_thr=0.)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match='S3FDAssigner'):
        S3FDAssigner(**kwargs)
