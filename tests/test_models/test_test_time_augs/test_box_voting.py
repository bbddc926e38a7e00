"""Box voting, the merge of the release's multi-scale test, on hand-made boxes."""
import pytest
import torch

from mmdet_rnnpool.models.test_time_augs import box_vote, legacy_iou_with

A = [0., 0., 9., 9.]  # 10 x 10 px in the legacy convention (x2 - x1 + 1)
B = [1., 1., 10., 10.]  # overlaps A: 9 x 9 / (100 + 100 - 81) = 81 / 119
FAR = [50., 50., 59., 59.]
WIDE = [0., 0., 19., 19.]  # contains A: 100 / 400 = 0.25


def _t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_legacy_iou():
    iou = legacy_iou_with(_t(A), _t([A, B, FAR, WIDE]))
    assert torch.allclose(iou, torch.tensor([1.0, 81 / 119, 0.0, 0.25]))


def test_group_is_score_weighted_mean_with_best_score():
    boxes, scores = box_vote(_t([B, A]), _t([0.6, 0.9]))
    expected = (0.9 * _t(A) + 0.6 * _t(B)) / 1.5
    assert boxes.shape == (1, 4) and torch.allclose(boxes[0], expected)
    assert scores.tolist() == pytest.approx([0.9])


def test_singletons_are_dropped_as_in_the_release():
    # A + B vote; FAR and WIDE (IoU 0.25 with A, below 0.3) each stand alone.
    rows, weights = _t([A, B, FAR, WIDE]), _t([0.9, 0.6, 0.8, 0.5])
    boxes, scores = box_vote(rows, weights, iou_thr=0.3)
    assert scores.tolist() == pytest.approx([0.9])
    boxes, scores = box_vote(rows, weights, iou_thr=0.3, drop_singletons=False)
    assert scores.tolist() == pytest.approx([0.9, 0.8, 0.5])
    assert torch.equal(boxes[1], _t(FAR)) and torch.equal(boxes[2], _t(WIDE))
    # a lower threshold pulls WIDE into A's group: all three average, FAR alone
    boxes, scores = box_vote(rows, weights, iou_thr=0.25, drop_singletons=False)
    expected = (0.9 * _t(A) + 0.6 * _t(B) + 0.5 * _t(WIDE)) / 2.0
    assert torch.allclose(boxes[0], expected) and scores.tolist() == pytest.approx([0.9, 0.8])


def test_groups_are_greedy_from_the_best_box():
    # The best box A leads; B (IoU 81/119 with A) and C (64/136 = 0.47) both join it.
    C = [2., 2., 11., 11.]
    boxes, scores = box_vote(_t([C, B, A]), _t([0.5, 0.6, 0.9]))
    expected = (0.9 * _t(A) + 0.6 * _t(B) + 0.5 * _t(C)) / 2.0
    assert torch.allclose(boxes[0], expected) and len(boxes) == 1
    # At 0.5, B still joins A but C does not (0.47 with the leader, though 0.68 with B): C is
    # left alone and dropped.
    boxes, scores = box_vote(_t([C, B, A]), _t([0.5, 0.6, 0.9]), iou_thr=0.5)
    assert torch.allclose(boxes[0], (0.9 * _t(A) + 0.6 * _t(B)) / 1.5) and len(boxes) == 1


def test_max_num_keeps_the_best_groups():
    rows = _t([A, B, FAR, [51., 51., 60., 60.]])
    boxes, scores = box_vote(rows, _t([0.9, 0.6, 0.95, 0.7]), max_num=1)
    assert scores.tolist() == pytest.approx([0.95]) and boxes[0, 0] > 49


def test_empty_and_bad_input():
    boxes, scores = box_vote(torch.zeros((0, 4)), torch.zeros((0, )))
    assert boxes.shape == (0, 4) and scores.shape == (0, )
    with pytest.raises(ValueError, match='scores'):
        box_vote(_t([A, B]), _t([0.5, 0.0]))
    with pytest.raises(ValueError, match='iou_thr'):
        box_vote(_t([A]), _t([0.5]), iou_thr=0.0)
    with pytest.raises(ValueError, match=r'\(N, 4\)'):
        box_vote(_t([A]), _t([0.5, 0.4]))
