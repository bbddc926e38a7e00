import filecmp
import os
import os.path as osp
import runpy

import cv2
import numpy as np
import pytest

from mmdet_rnnpool.datasets.mini_wider import (MINI_WIDER_EVENTS, MiniWiderConfig,
                                               build_mini_wider, wider_settings)
from mmdet_rnnpool.datasets.wider_face_txt import WIDER_ATTRIBUTES, parse_wider_bbx_gt
from mmdet_rnnpool.evaluation.functional.wider_ground_truth import load_wider_ground_truth

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
SMALL = dict(num_train=8, num_val=12)


def _files(root):
    out = []
    for dirpath, _, names in os.walk(root):
        out += [osp.relpath(osp.join(dirpath, n), root) for n in names]
    return sorted(out)


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp('mini_a')
    summary = build_mini_wider(str(root), seed=0, cfg=MiniWiderConfig(**SMALL),
                               progress=False)
    return str(root), summary


def test_official_layout(built):
    root, summary = built
    files = _files(root)
    for name in ('wider_face_split/wider_face_train_bbx_gt.txt',
                 'wider_face_split/wider_face_val_bbx_gt.txt',
                 'eval_tools/ground_truth/wider_face_val.mat',
                 'eval_tools/ground_truth/wider_easy_val.mat',
                 'eval_tools/ground_truth/wider_medium_val.mat',
                 'eval_tools/ground_truth/wider_hard_val.mat'):
        assert name in files
    images = [f for f in files if f.endswith('.jpg')]
    assert len(images) == 20
    assert summary.num_images == {'train': 8, 'val': 12}
    for f in images:
        split, sub, event, _ = f.split('/')
        assert split in ('WIDER_train', 'WIDER_val') and sub == 'images'
        assert event in dict(MINI_WIDER_EVENTS)
    # Several events per split.
    assert len({f.split('/')[2] for f in images if f.startswith('WIDER_val')}) >= 5


def test_txt_matches_images(built):
    root, summary = built
    for split in ('train', 'val'):
        records = parse_wider_bbx_gt(
            osp.join(root, 'wider_face_split', f'wider_face_{split}_bbx_gt.txt'))
        assert len(records) == summary.num_images[split]
        assert sum(len(r.boxes) for r in records) == summary.num_faces[split]
        for r in records:
            img = cv2.imread(osp.join(root, f'WIDER_{split}', 'images', r.name))
            assert img is not None and img.shape[2] == 3
            h, w = img.shape[:2]
            x, y, bw, bh = r.boxes.T
            assert np.all((x >= 0) & (y >= 0) & (x + bw <= w) & (y + bh <= h))
            assert np.all((bh >= 12) & (bh <= 200))
            attrs = dict(zip(WIDER_ATTRIBUTES, r.attributes.T))
            assert set(np.unique(attrs['occlusion'])) <= {0, 1, 2}
            assert set(np.unique(attrs['blur'])) <= {0, 1, 2}
    assert summary.num_faces['train'] > 8 and summary.num_faces['val'] > 12


def test_ground_truth_round_trip(built):
    root, summary = built
    records = parse_wider_bbx_gt(osp.join(root, 'wider_face_split',
                                          'wider_face_val_bbx_gt.txt'))
    gt = {im.key: im for im in load_wider_ground_truth(
        osp.join(root, 'eval_tools', 'ground_truth'))}
    assert len(gt) == len(records)
    totals = dict(easy=0, medium=0, hard=0)
    for r in records:
        image = gt[f'{r.event}/{r.stem}']
        np.testing.assert_array_equal(image.boxes, r.boxes)
        easy, medium, hard = (set(image.settings[s].tolist())
                              for s in ('easy', 'medium', 'hard'))
        assert easy <= medium <= hard  # nested, as the official lists
        invalid = {i + 1 for i, a in enumerate(r.attributes) if a[3] == 1}
        assert not invalid & hard and hard | invalid == set(range(1, len(r.boxes) + 1))
        for i in easy:
            assert r.boxes[i - 1, 3] >= 48 and r.attributes[i - 1, 4] == 0
        for s, idx in (('easy', easy), ('medium', medium), ('hard', hard)):
            totals[s] += len(idx)
    assert totals == summary.num_val_settings
    assert totals['easy'] > 0


def test_deterministic_for_a_seed(built, tmp_path):
    root, _ = built
    again = tmp_path / 'mini_b'
    build_mini_wider(str(again), seed=0, cfg=MiniWiderConfig(**SMALL), progress=False)
    files = _files(root)
    assert files == _files(str(again))
    for f in files:
        if f.endswith('.mat'):
            continue  # MATLAB headers carry a timestamp; contents compared below
        assert filecmp.cmp(osp.join(root, f), osp.join(str(again), f), shallow=False), f
    a = load_wider_ground_truth(osp.join(root, 'eval_tools', 'ground_truth'))
    b = load_wider_ground_truth(str(again / 'eval_tools' / 'ground_truth'))
    assert [im.key for im in a] == [im.key for im in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.boxes, y.boxes)
        for s in ('easy', 'medium', 'hard'):
            np.testing.assert_array_equal(x.settings[s], y.settings[s])

    other = tmp_path / 'mini_c'
    build_mini_wider(str(other), seed=1, cfg=MiniWiderConfig(**SMALL), progress=False)
    txt = 'wider_face_split/wider_face_val_bbx_gt.txt'
    assert not filecmp.cmp(osp.join(root, txt), str(other / txt), shallow=False)


def test_image_does_not_depend_on_split_size(built, tmp_path):
    root, _ = built
    fewer = tmp_path / 'fewer'
    build_mini_wider(str(fewer), seed=0, cfg=MiniWiderConfig(num_train=3, num_val=2),
                     progress=False)
    name = 'WIDER_train/images/1--Cat/1_Cat_mini_train_1.jpg'
    assert filecmp.cmp(osp.join(root, name), str(fewer / name), shallow=False)


def test_empty_images_get_the_dummy_line(tmp_path):
    build_mini_wider(str(tmp_path), seed=0,
                     cfg=MiniWiderConfig(num_train=2, num_val=1, empty_prob=1.0),
                     progress=False)
    lines = (tmp_path / 'wider_face_split' / 'wider_face_train_bbx_gt.txt').read_text()
    assert lines.splitlines()[1:3] == ['0', '0 0 0 0 0 0 0 0 0 0']


def test_settings_rule():
    assert wider_settings(60, 0, 0, 0) == ('hard', 'medium', 'easy')
    assert wider_settings(60, 1, 0, 0) == ('hard', 'medium')
    assert wider_settings(30, 0, 0, 0) == ('hard', 'medium')
    assert wider_settings(30, 0, 2, 0) == ('hard', )
    assert wider_settings(14, 0, 0, 0) == ('hard', )
    assert wider_settings(100, 0, 0, 1) == ()


def test_config_checks():
    with pytest.raises(ValueError, match='num_train, num_val and num_test must be >= 0'):
        MiniWiderConfig(num_train=-1)
    with pytest.raises(ValueError, match='min_face <= max_face'):
        MiniWiderConfig(min_face=30, max_face=20)
    with pytest.raises(ValueError, match='does not fit'):
        MiniWiderConfig(max_face=400)


def test_cli(tmp_path, capsys):
    tool = runpy.run_path(osp.join(REPO, 'tools', 'dataset_converters',
                                   'build_mini_wider.py'))
    out = tmp_path / 'cli'
    tool['main'](['--out', str(out), '--seed', '3', '--num-train', '2', '--num-val', '2',
                  '--quiet'])
    printed = capsys.readouterr().out
    assert str(out) in printed and 'not a benchmark' in printed
    assert 'WIDER_FACE_ROOT=' in printed
    assert (out / 'eval_tools' / 'ground_truth' / 'wider_hard_val.mat').is_file()
    with pytest.raises(SystemExit, match='num_train, num_val and num_test must be >= 0'):
        tool['main'](['--out', str(out), '--num-train', '-2'])
