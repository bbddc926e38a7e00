import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.registry import METRICS
from mmdet.structures import DetDataSample
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData

from mmdet_rnnpool.evaluation import WIDERFaceMetric
from mmdet_rnnpool.evaluation.functional import (WiderGTImage, evaluate_wider,
                                                 read_wider_predictions, save_wider_ground_truth)

FACE_A, FACE_B, FAR = [0, 0, 10, 10], [100, 100, 20, 20], [500, 500, 10, 10]


def _corners(xywh):
    x, y, w, h = xywh
    return [x, y, x + w, y + h]


def _sample(img_path, rows):
    """A DetDataSample with ``x y w h score`` rows as x1 y1 x2 y2 boxes."""
    sample = DetDataSample(metainfo=dict(img_path=img_path))
    pred = InstanceData()
    pred.bboxes = torch.tensor([_corners(r[:4]) for r in rows], dtype=torch.float32).reshape(-1, 4)
    pred.scores = torch.tensor([r[4] for r in rows], dtype=torch.float32)
    pred.labels = torch.zeros(len(rows), dtype=torch.long)
    sample.pred_instances = pred
    return sample


@pytest.fixture
def gt_dir(tmp_path):
    gt = [
        # 4 faces: outside the <= 3 view. easy lists A only.
        WiderGTImage('0--Parade', 'p1',
                     np.array([FACE_A, FACE_B, [200, 0, 10, 10], [300, 0, 10, 10]]),
                     dict(easy=[1], medium=[1, 2], hard=[1, 2, 3, 4])),
        WiderGTImage('1--Handshaking', 'h1', np.array([FACE_A]),
                     dict(easy=[1], medium=[1], hard=[1])),
        WiderGTImage('1--Handshaking', 'h2', np.array([FACE_A]),
                     dict(easy=[], medium=[1], hard=[1])),  # never predicted
    ]
    save_wider_ground_truth(str(tmp_path / 'gt'), gt)
    return str(tmp_path / 'gt')


def _samples():
    return [
        _sample('data/WIDER_val/images/0--Parade/p1.jpg',
                [FACE_B + [0.9], FACE_A + [0.8], FACE_A + [0.7], FAR + [0.1]]),
        _sample('data/WIDER_val/images/1--Handshaking/h1.jpg', [FAR + [0.6], FACE_A + [0.3]]),
    ]


def test_hand_worked_aps(gt_dir, tmp_path):
    metric = METRICS.build(dict(type='WIDERFaceMetric', gt_dir=gt_dir,
                                prediction_dir=str(tmp_path / 'pred'),
                                save_dir=str(tmp_path / 'plots')))
    assert isinstance(metric, WIDERFaceMetric)
    samples = _samples()
    # the Evaluator hands over dicts; objects work too
    metric.process({}, [samples[0].to_dict()])
    metric.process({}, [samples[1]])
    results = metric.evaluate(size=2)
    # normalised scores (min 0.1, max 0.9): B 1, A 0.875, A-dup 0.75, FAR(h1) 0.625,
    # A(h1) 0.25, FAR(p1) 0. Ranked: B, A, dup, FAR_h1, A_h1, FAR_p1.
    # easy (A of p1, A of h1; B ignored): ignored, TP (P 1, R 1/2), FP, FP, TP (P 2/4, R 1), FP
    #   -> AP 1/2 * 1 + 1/2 * 1/2 = 0.75
    # medium (A, B of p1; h1; h2 = 4 faces): TP, TP (P 1, R 2/4), FP, FP, TP (P 3/5, R 3/4), FP
    #   -> AP 1/2 * 1 + 1/4 * 3/5 = 0.65
    # hard (4 faces of p1; h1; h2 = 6 faces): TP, TP (P 1, R 2/6), ..., TP (P 3/5, R 3/6)
    #   -> AP 2/6 + 1/6 * 3/5 = 0.4333
    # <= 3 faces: h1, h2 only, scores renormalised over h1 (0.3 -> 0, 0.6 -> 1):
    #   FAR (P 0), A (P 1/2, R 1/n): easy 1 face: 1/2; medium, hard 2 faces: 1/2 * 1/2
    expected = {
        'easy': 0.75, 'medium': 0.65, 'hard': 2 / 6 + 0.1,
        'easy_le3': 0.5, 'medium_le3': 0.25, 'hard_le3': 0.25,
    }
    assert set(results) == {f'widerface/{k}' for k in expected}
    for key, value in expected.items():
        assert results[f'widerface/{key}'] == pytest.approx(value), key
    assert metric.results == []  # evaluate() clears them

    # the official-layout files reproduce the APs exactly
    files = read_wider_predictions(str(tmp_path / 'pred'))
    assert sorted(files) == ['0--Parade/p1', '1--Handshaking/h1']
    np.testing.assert_allclose(files['1--Handshaking/h1'],
                               [FAR + [0.6], FACE_A + [0.3]], rtol=1e-6)
    curves = evaluate_wider(metric.gt_images, files)
    for setting in ('easy', 'medium', 'hard'):
        assert curves[setting].ap == results[f'widerface/{setting}']
    assert osp.getsize(tmp_path / 'plots' / 'wider_pr_curves.png') > 0


def test_plot_goes_to_log_dir(gt_dir, tmp_path):
    log_file = tmp_path / 'work' / '20260101_000000' / 'run.log'
    log_file.parent.mkdir(parents=True)
    MMLogger.get_instance('test_wider_plot', log_file=str(log_file))
    metric = WIDERFaceMetric(gt_dir=gt_dir, max_faces=None)
    metric.process({}, [s.to_dict() for s in _samples()])
    results = metric.evaluate(size=2)
    assert set(results) == {'widerface/easy', 'widerface/medium', 'widerface/hard'}
    assert (log_file.parent / 'wider_pr_curves.png').stat().st_size > 0


def test_empty_predictions_and_bad_input(gt_dir):
    metric = WIDERFaceMetric(gt_dir=gt_dir, plot_curves=False)
    metric.process({}, [_sample('x/0--Parade/p1.jpg', [])])
    assert metric.evaluate(size=1)['widerface/hard'] == 0.0
    with pytest.raises(KeyError, match="no 'pred_instances'"):
        metric.process({}, [dict(img_path='x/0--Parade/p1.jpg')])
    metric.process({}, [s.to_dict() for s in _samples()] + [_samples()[0].to_dict()])
    with pytest.raises(ValueError, match="'0--Parade/p1' was predicted twice"):
        metric.compute_metrics(metric.results)
    metric.results.clear()
    metric.process({}, [_sample('x/9--Other/zz.jpg', [FACE_A + [0.5]]).to_dict()])
    # e.g. a test-split run against the val ground truth: one line pointing at the way out
    with pytest.raises(ValueError, match=r"not in the ground truth of .*\(first: '9--Other/zz'\)"
                       r".*tools/wider_test_predictions.py") as err:
        metric.compute_metrics(metric.results)
    assert '\n' not in str(err.value)
    with pytest.raises(FileNotFoundError, match='gt_dir'):
        WIDERFaceMetric(gt_dir='/nonexistent/gt')
    with pytest.raises(ValueError, match='max_faces'):
        WIDERFaceMetric(gt_dir=gt_dir, max_faces=-1)


def test_through_mmengine_evaluator(gt_dir):
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope

    # as in a Runner with default_scope='mmdet'
    with DefaultScope.overwrite_default_scope('mmdet'):
        evaluator = Evaluator(dict(type='WIDERFaceMetric', gt_dir=gt_dir, plot_curves=False))
    evaluator.process(data_samples=_samples(), data_batch={})
    results = evaluator.evaluate(2)
    assert results['widerface/easy'] == pytest.approx(0.75)
    assert results['widerface/hard_le3'] == pytest.approx(0.25)


def test_protocol_names_the_metrics(gt_dir, tmp_path):
    """Merged multi-scale samples carry test_protocol; the metric names its numbers by it."""
    single = WIDERFaceMetric(gt_dir=gt_dir, save_dir=str(tmp_path))
    single.process({}, [s.to_dict() for s in _samples()])
    single_results = single.evaluate(size=2)
    multi = WIDERFaceMetric(gt_dir=gt_dir, save_dir=str(tmp_path))
    samples = _samples()
    for sample in samples:
        sample.set_metainfo(dict(test_protocol='multiscale'))
    multi.process({}, [s.to_dict() for s in samples])
    multi_results = multi.evaluate(size=2)
    assert set(multi_results) == {k.replace('widerface/', 'widerface/multiscale/')
                                  for k in single_results}
    assert multi_results['widerface/multiscale/easy'] == single_results['widerface/easy']
    assert (tmp_path / 'wider_pr_curves_multiscale.png').stat().st_size > 0
    # one evaluation, one protocol
    samples[1].set_metainfo(dict(test_protocol='other'))
    multi.process({}, [s.to_dict() for s in samples])
    with pytest.raises(ValueError, match='several test protocols'):
        multi.compute_metrics(multi.results)


def test_format_only_writes_the_submission_layout(tmp_path):
    """The test split has no ground truth: only the official files, no AP."""
    metric = WIDERFaceMetric(format_only=True, prediction_dir=str(tmp_path / 'sub'))
    metric.process({}, [_sample('x/WIDER_test/images/9--Other/zz.jpg',
                                [FACE_A + [0.5], FAR + [0.25]]).to_dict()])
    assert metric.evaluate(size=1) == {}
    files = read_wider_predictions(str(tmp_path / 'sub'))
    assert list(files) == ['9--Other/zz']
    np.testing.assert_allclose(files['9--Other/zz'], [FACE_A + [0.5], FAR + [0.25]])
    text = (tmp_path / 'sub' / '9--Other' / 'zz.txt').read_text().splitlines()
    assert text[:2] == ['zz', '2']
    with pytest.raises(ValueError, match='prediction_dir'):
        WIDERFaceMetric(format_only=True)
