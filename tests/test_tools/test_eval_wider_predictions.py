import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from mmdet_rnnpool.evaluation.functional import (WiderGTImage, save_wider_ground_truth,
                                                 write_wider_predictions)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'eval_wider_predictions.py')


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


@pytest.fixture
def dataset(tmp_path):
    face_a, face_b, far = [0, 0, 10, 10], [100, 100, 20, 20], [500, 500, 10, 10]
    gt = [
        # easy lists A only, medium and hard list both
        WiderGTImage('0--Parade', 'p1', np.array([face_a, face_b]),
                     dict(easy=[1], medium=[1, 2], hard=[1, 2])),
        WiderGTImage('1--Handshaking', 'h1', np.array([face_a]),
                     dict(easy=[], medium=[1], hard=[1])),  # no prediction file
    ]
    save_wider_ground_truth(str(tmp_path / 'gt'), gt)
    write_wider_predictions(str(tmp_path / 'pred'), {
        '0--Parade/p1': np.array([face_b + [0.9], face_a + [0.5], far + [0.1]]),
    })
    return tmp_path


def test_prints_and_writes_json(dataset):
    out = dataset / 'ap.json'
    result = _run(dataset / 'pred', dataset / 'gt', '--json', out, '--max-faces', 1,
                  '--plot', dataset / 'pr.png')
    assert result.returncode == 0, result.stderr
    aps = json.loads(out.read_text())
    assert set(aps) == {'easy', 'medium', 'hard'}
    # easy: B's match is ignored, TP on A then FP: AP 1
    assert aps['easy'] == pytest.approx(1.0)
    # medium / hard: TP B, TP A (R 2/3, P 1), FP; h1's face is missed: AP 2/3
    assert aps['medium'] == pytest.approx(2 / 3)
    assert aps['hard'] == pytest.approx(2 / 3)
    assert 'easy' in result.stdout and '0.6667' in result.stdout
    # <= 1 face: only h1, which has no predictions
    assert 'hard_le1' in result.stdout
    assert '1 of 2 ground-truth images have no prediction file' in result.stderr
    assert (dataset / 'pr.png').stat().st_size > 0


def test_bad_prediction_file(dataset):
    bad = dataset / 'pred' / '0--Parade' / 'p1.txt'
    bad.write_text('p1\n1\n1 2 3 oops 0.5\n')
    result = _run(dataset / 'pred', dataset / 'gt')
    assert result.returncode == 1
    assert f'{bad}:3: non-numeric value' in result.stderr
    assert 'Traceback' not in result.stderr


def test_missing_ground_truth(dataset):
    result = _run(dataset / 'pred', dataset / 'nowhere')
    assert result.returncode == 1
    assert 'wider_face_val.mat' in result.stderr and 'Traceback' not in result.stderr


def test_unknown_images_are_skipped(dataset):
    write_wider_predictions(str(dataset / 'pred'), {'9--Other/x': np.array([[0, 0, 5, 5, 1]])})
    result = _run(dataset / 'pred', dataset / 'gt', '--json', dataset / 'ap.json')
    assert result.returncode == 0, result.stderr
    assert 'skipping 1 prediction file(s)' in result.stderr
    assert json.loads((dataset / 'ap.json').read_text())['easy'] == pytest.approx(1.0)
