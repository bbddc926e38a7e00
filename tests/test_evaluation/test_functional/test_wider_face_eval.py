"""The WIDER FACE protocol on cases whose APs are worked out by hand, plus a literal
loop-by-loop re-statement of the official algorithm that the vectorised core must match."""
import numpy as np
import pytest

from mmdet_rnnpool.evaluation.functional import (WiderGTImage, evaluate_wider, legacy_box_iou,
                                                 normalize_wider_scores, wider_thresholds,
                                                 wider_voc_ap)


def _gt(key, boxes, easy=(), medium=(), hard=()):
    event, name = key.split('/')
    return WiderGTImage(event, name, np.asarray(boxes, dtype=float).reshape(-1, 4),
                        dict(easy=list(easy), medium=list(medium), hard=list(hard)))


def _pred(*rows):
    return np.asarray(rows, dtype=float).reshape(-1, 5)


FACE_A = [0, 0, 10, 10]
FACE_B = [100, 100, 20, 20]
FAR = [500, 500, 10, 10]


def test_legacy_iou():
    # corners of x y w h are (x, y, x + w, y + h); widths are x2 - x1 + 1
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [11, 0, 20, 10], [10, 0, 20, 10]])
    # identical: 1; shifted by 2: 9*11 / (2*121 - 99); touching: 0; one shared column: 11 / 231
    np.testing.assert_allclose(legacy_box_iou(a, b), [[1.0, 99 / 143, 0.0, 11 / 231]])


def test_thresholds_and_voc_ap():
    thresholds = wider_thresholds()
    assert len(thresholds) == 1000
    assert thresholds[0] == pytest.approx(0.999) and thresholds[-1] == 0.0
    # envelope: precision at recall 0.5 is lifted to 0.8 by the later point
    assert wider_voc_ap(np.array([0.5, 0.5, 1.0]), np.array([0.4, 0.8, 0.6])) == \
        pytest.approx(0.5 * 0.8 + 0.5 * 0.6)


def test_basic_ranking():
    gt = [_gt('e/a', [FACE_A, FACE_B], easy=[1, 2], medium=[1, 2], hard=[1, 2])]
    preds = {'e/a': _pred(FACE_A + [0.9], FAR + [0.6], FACE_B + [0.1])}
    curves = evaluate_wider(gt, preds)
    # TP (P 1, R 1/2) -> FP (P 1/2) -> TP (P 2/3, R 1): AP = 1/2 * 1 + 1/2 * 2/3
    for setting in ('easy', 'medium', 'hard'):
        assert curves[setting].ap == pytest.approx(0.5 + 0.5 * 2 / 3)
        assert curves[setting].num_faces == 2
    assert curves['hard'].precision[0] == 1.0 and curves['hard'].recall[0] == 0.5
    assert curves['hard'].precision[-1] == pytest.approx(2 / 3)
    assert curves['hard'].recall[-1] == 1.0


def test_ignored_matches():
    # face B is not listed in easy: the top prediction on it is neither TP nor FP
    gt = [_gt('e/a', [FACE_A, FACE_B], easy=[1], medium=[], hard=[1, 2])]
    preds = {'e/a': _pred(FACE_B + [0.9], FACE_A + [0.5], FAR + [0.1])}
    curves = evaluate_wider(gt, preds)
    # easy: only A counts -> TP (P 1, R 1), FP (P 1/2): AP 1. Counting B's match as a
    # false positive would give 1 * 1/2.
    assert curves['easy'].ap == pytest.approx(1.0)
    assert curves['easy'].num_faces == 1
    # hard lists both: TP, TP, FP -> AP 1
    assert curves['hard'].ap == pytest.approx(1.0)
    # medium lists nothing: recall 0/0 is guarded to 0, AP 0, num_faces tells why
    assert curves['medium'].ap == 0.0 and curves['medium'].num_faces == 0
    assert not np.isnan(curves['medium'].recall).any()


def test_duplicate_detections():
    gt = [_gt('e/a', [FACE_A, FACE_B], hard=[1, 2])]
    preds = {
        'e/a': _pred(FACE_A + [0.9], [1, 0, 10, 10, 0.8], FACE_B + [0.7], FAR + [0.1])
    }
    # TP (P 1, R 1/2); duplicate of A stays FP (P 1/2); TP (P 2/3, R 1); FP (P 1/2)
    assert evaluate_wider(gt, preds)['hard'].ap == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_best_iou_face_only():
    # the duplicate's best face is A (IoU 1) although it also overlaps B2 at IoU 99/143 >= 0.5:
    # it is compared with A only and stays a false positive, B2 stays missed
    face_b2 = [2, 0, 10, 10]
    gt = [_gt('e/a', [FACE_A, face_b2], hard=[1, 2])]
    preds = {'e/a': _pred(FACE_A + [0.9], FACE_A + [0.5], FAR + [0.1])}
    # TP (P 1, R 1/2), FP, FP: AP = 1/2
    assert evaluate_wider(gt, preds)['hard'].ap == pytest.approx(0.5)


def test_images_without_predictions():
    gt = [_gt('e/a', [FACE_A], hard=[1]), _gt('e/b', [FACE_A], hard=[1])]
    preds = {'e/a': _pred(FACE_A + [0.9], FAR + [0.1])}  # e/b has none: its face is a miss
    curves = evaluate_wider(gt, preds)
    # TP (P 1, R 1/2), FP (P 1/2): AP 1/2
    assert curves['hard'].ap == pytest.approx(0.5)
    assert curves['hard'].num_faces == 2 and curves['hard'].num_images == 2
    # an explicitly empty prediction array is the same
    preds['e/b'] = np.zeros((0, 5))
    assert evaluate_wider(gt, preds)['hard'].ap == pytest.approx(0.5)


def test_all_equal_scores():
    gt = [_gt('e/a', [FACE_A, FACE_B], hard=[1, 2])]
    preds = {'e/a': _pred(FAR + [0.7], FACE_A + [0.7])}
    curves = evaluate_wider(gt, preds)
    # max == min: every prediction counts at every threshold, one point P 1/2, R 1/2
    assert curves['hard'].ap == pytest.approx(0.25)
    np.testing.assert_allclose(curves['hard'].precision, 0.5)
    np.testing.assert_allclose(curves['hard'].recall, 0.5)


def test_images_without_faces():
    # e/c has no faces: its (top-scoring) prediction is skipped, not a false positive, but it
    # still takes part in the score normalisation
    gt = [_gt('e/a', [FACE_A], hard=[1]), _gt('e/c', [])]
    preds = {'e/a': _pred(FACE_A + [0.5], FAR + [0.1]), 'e/c': _pred(FAR + [0.9])}
    curves = evaluate_wider(gt, preds)
    # TP (P 1, R 1), FP (P 1/2): AP 1; counting e/c's box as FP would give 1/2
    assert curves['hard'].ap == pytest.approx(1.0)
    # normalised TP score (0.5 - 0.1) / 0.8 = 0.5: first counted at threshold 0.5, not before
    first = np.nonzero(curves['hard'].recall)[0][0]
    assert curves['hard'].thresholds[first] == pytest.approx(0.5, abs=1e-3)


def test_threshold_grid_merges_close_scores():
    # normalised scores 1.0 (TP) and 0.9995 (FP) both pass the first threshold 0.999, so the
    # first point is already P 1/2 at R 1: AP 1/2 (an exact ranking would give 1)
    gt = [_gt('e/a', [FACE_A], hard=[1])]
    preds = {'e/a': _pred(FACE_A + [1.0], FAR + [0.9995], FAR + [0.0])}
    assert evaluate_wider(gt, preds)['hard'].ap == pytest.approx(0.5)


def test_nothing_predicted():
    gt = [_gt('e/a', [FACE_A], hard=[1])]
    curves = evaluate_wider(gt, {})
    assert curves['hard'].ap == 0.0
    assert not np.isnan(curves['hard'].precision).any()


def test_max_faces_view():
    four = [[i * 50, 0, 10, 10] for i in range(4)]
    gt = [_gt('e/many', four, hard=[1, 2, 3, 4]), _gt('e/one', [FACE_A], hard=[1])]
    preds = {'e/many': _pred(*[b + [0.9] for b in four]), 'e/one': _pred(FAR + [0.8])}
    # all images: four TPs (recall 4/5 at P 1), then the FP adds no recall: AP 4/5
    assert evaluate_wider(gt, preds)['hard'].ap == pytest.approx(0.8)
    few = evaluate_wider(gt, preds, max_faces=3)
    # only e/one: one FP, its face missed
    assert few['hard'].ap == 0.0
    assert few['hard'].num_images == 1 and few['hard'].num_faces == 1


def test_normalisation_start_values():
    low, high = normalize_wider_scores([np.array([-1.0, -2.0]), np.zeros(0)])
    assert low == -2.0 and high == np.finfo(np.float32).tiny  # MATLAB realmin('single')
    assert normalize_wider_scores([np.array([0.2, 0.6])]) == (0.2, 0.6)


def test_bad_input():
    gt = [_gt('e/a', [FACE_A], hard=[1])]
    with pytest.raises(ValueError, match="not in the ground truth, e.g. 'e/zz'"):
        evaluate_wider(gt, {'e/zz': _pred(FACE_A + [1])})
    with pytest.raises(ValueError, match=r"'e/a'.*\(K, 5\)"):
        evaluate_wider(gt, {'e/a': np.ones((2, 4))})
    with pytest.raises(ValueError, match='non-finite'):
        evaluate_wider(gt, {'e/a': _pred(FACE_A + [np.nan])})
    with pytest.raises(ValueError, match='unknown WIDER setting'):
        evaluate_wider(gt, {}, settings=['extreme'])


def _official_loops(gt_images, predictions, setting, num_thresholds=1000, iou_thr=0.5):
    """The official algorithm restated literally: per image, per prediction, per threshold."""
    preds = {}
    for im in gt_images:
        p = predictions.get(im.key, np.zeros((0, 5)))
        preds[im.key] = p[np.argsort(-p[:, 4], kind='stable')]
    high, low = np.finfo(np.float32).tiny, np.finfo(np.float32).max
    for p in preds.values():
        for s in p[:, 4]:
            high, low = max(high, s), min(low, s)
    org_curve = np.zeros((num_thresholds, 2))
    count_face = 0
    for im in gt_images:
        keep = im.settings[setting]
        count_face += len(keep)
        pred = preds[im.key].copy()
        if len(im.boxes) == 0 or len(pred) == 0:
            continue
        pred[:, 4] = (pred[:, 4] - low) / (high - low) if high > low else 1.0
        gt = im.boxes.copy()
        gt[:, 2:] += gt[:, :2]
        box = pred[:, :4].copy()
        box[:, 2:] += box[:, :2]
        ignore = np.zeros(len(gt))
        ignore[keep - 1] = 1
        recall_list = np.zeros(len(gt))
        proposal_list = np.ones(len(pred))
        pred_recall = np.zeros(len(pred))
        for h in range(len(pred)):
            overlaps = [
                legacy_box_iou(box[h:h + 1], gt[g:g + 1])[0, 0] for g in range(len(gt))
            ]
            idx = int(np.argmax(overlaps))
            if overlaps[idx] >= iou_thr:
                if ignore[idx] == 0:
                    recall_list[idx] = -1
                    proposal_list[h] = -1
                elif recall_list[idx] == 0:
                    recall_list[idx] = 1
            pred_recall[h] = np.sum(recall_list == 1)
        for t in range(num_thresholds):
            thresh = 1 - (t + 1) / num_thresholds
            above = np.nonzero(pred[:, 4] >= thresh)[0]
            if len(above):
                r_index = above[-1]
                org_curve[t, 0] += np.sum(proposal_list[:r_index + 1] == 1)
                org_curve[t, 1] += pred_recall[r_index]
    precision = np.array([r / p if p else 0.0 for p, r in org_curve])
    recall = org_curve[:, 1] / count_face if count_face else np.zeros(num_thresholds)
    return wider_voc_ap(recall, precision), precision, recall


def test_matches_literal_official_loops():
    rng = np.random.default_rng(0)
    gt, preds = [], {}
    for i in range(12):
        n = int(rng.integers(0, 6))
        xy = rng.uniform(0, 80, (n, 2))
        boxes = np.concatenate([xy, rng.uniform(4, 30, (n, 2))], 1)
        settings = {}
        for s, frac in (('easy', 0.3), ('medium', 0.6), ('hard', 0.9)):
            settings[s] = np.nonzero(rng.random(n) < frac)[0] + 1
        gt.append(_gt(f'ev{i % 3}/im{i}', boxes, **settings))
        if i % 5 == 4:
            continue  # an image without predictions
        k = int(rng.integers(0, 15))
        picks = boxes[rng.integers(0, n, k)] if n else np.zeros((k, 4)) + 5
        jitter = rng.normal(0, 2.0, (k, 4))
        scores = np.round(rng.random((k, 1)), 2)  # rounded: ties happen
        preds[gt[-1].key] = np.concatenate([picks + jitter, scores], 1)
    curves = evaluate_wider(gt, preds)
    for setting in ('easy', 'medium', 'hard'):
        ap, precision, recall = _official_loops(gt, preds, setting)
        np.testing.assert_allclose(curves[setting].precision, precision, atol=1e-12)
        np.testing.assert_allclose(curves[setting].recall, recall, atol=1e-12)
        assert curves[setting].ap == pytest.approx(ap, abs=1e-12)
        assert 0.0 < ap < 1.0


def test_best_f1_operating_point():
    # scores 0.9 (face A), 0.8 (false), 0.6 (face B), 0.3 (false): F1 is 2/3, 1/2, 4/5, 2/3
    # when the cut is just below each score, so the best cut keeps the top three
    gt = [_gt('0--E/a', [FACE_A, FACE_B], hard=[1, 2])]
    preds = {'0--E/a': _pred(FACE_A + [0.9], FAR + [0.8], FACE_B + [0.6], [300, 0, 10, 10, 0.3])}
    curve = evaluate_wider(gt, preds, settings=('hard', ))['hard']
    assert (curve.score_low, curve.score_high) == (0.3, 0.9)
    threshold, precision, recall = curve.best_f1()
    # the weakest detection kept, to the protocol's 1/1000 resolution of the score range
    assert 0.6 - 0.6 / 1000 <= threshold <= 0.6
    assert (precision, recall) == (pytest.approx(2 / 3), 1.0)
    # nothing recalled: no operating point
    curve = evaluate_wider(gt, {'0--E/a': _pred(FAR + [0.5])}, settings=('hard', ))['hard']
    threshold, precision, recall = curve.best_f1()
    assert np.isnan(threshold) and (precision, recall) == (0.0, 0.0)
