"""The ImageNet-10 converter on a small generated ImageNet tree (the real layouts)."""
import csv
import os
import os.path as osp
import runpy

import cv2
import numpy as np
import pytest

from mmdet_rnnpool.datasets.classification_ann_file import read_ann_file
from mmdet_rnnpool.datasets.imagenet10 import (DEER_WNID, IMAGENET10_CLASSES,
                                               IMAGENET10_SYNSETS, build_imagenet10)
from mmdet_rnnpool.utils.cli import TRACEBACK_ENV, run_cli

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'build_imagenet10.py')
#: Two ImageNet-1K synsets that are not in ImageNet-10 (they must be left out).
OTHERS = ('n01440764', 'n15075141')
ONE_K = sorted([w for w, _ in IMAGENET10_SYNSETS if w != DEER_WNID] + list(OTHERS))
NUM_TRAIN, NUM_VAL, NUM_DEER = 4, 2, 9


def _jpeg(path, rng):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))


def _write_imagenet(root, val_layout):
    """train/<wnid>/<wnid>_<n>.JPEG and val/ in ``val_layout``: 'folders', 'flat' or 'csv'."""
    rng = np.random.default_rng(0)
    val_rows = []
    for wnid in ONE_K:
        for n in range(NUM_TRAIN):
            _jpeg(osp.join(root, 'train', wnid, f'{wnid}_{n}.JPEG'), rng)
        for n in range(NUM_VAL):
            val_rows.append((f'ILSVRC2012_val_{len(val_rows) + 1:08d}', wnid))
    for name, wnid in val_rows:
        sub = wnid if val_layout == 'folders' else ''
        _jpeg(osp.join(root, 'val', sub, name + '.JPEG'), rng)
    if val_layout == 'flat':  # MMPretrain's meta/val.txt: indices into the sorted synsets
        os.makedirs(osp.join(root, 'meta'))
        with open(osp.join(root, 'meta', 'val.txt'), 'w') as f:
            f.writelines(f'{name}.JPEG {ONE_K.index(wnid)}\n' for name, wnid in val_rows)
    elif val_layout == 'csv':  # Kaggle's LOC_val_solution.csv
        with open(osp.join(root, 'LOC_val_solution.csv'), 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['ImageId', 'PredictionString'])
            for name, wnid in val_rows:
                writer.writerow([name, f'{wnid} 1 2 10 11 {wnid} 0 0 5 5'])
    deer = osp.join(osp.dirname(root), 'imagenet22k', DEER_WNID)
    for n in range(NUM_DEER):
        _jpeg(osp.join(deer, f'{DEER_WNID}_{100 + n}.JPEG'), rng)
    with open(osp.join(deer, 'readme.txt'), 'w') as f:
        f.write('not an image\n')
    return deer, {name + '.JPEG': wnid for name, wnid in val_rows}


@pytest.mark.parametrize('val_layout', ['folders', 'flat', 'csv'])
def test_ten_synsets_in_table_order(tmp_path, val_layout):
    root = str(tmp_path / 'imagenet')
    deer, val_synsets = _write_imagenet(root, val_layout)
    out = str(tmp_path / 'imagenet10')
    val_labels = osp.join(root, 'LOC_val_solution.csv') if val_layout == 'csv' else None
    summary = build_imagenet10(root, deer, out, val_labels=val_labels, num_deer_val=3)
    train = read_ann_file(osp.join(out, 'meta', 'train.txt'))
    val = read_ann_file(osp.join(out, 'meta', 'val.txt'))
    for samples, per_class in ((train, NUM_TRAIN), (val, NUM_VAL)):
        labels = [label for _, label in samples]
        assert sorted(set(labels)) == list(range(10))
        for label, (wnid, _) in enumerate(IMAGENET10_SYNSETS):
            names = [n for n, lab in samples if lab == label]
            if wnid == DEER_WNID:
                assert all(n.startswith(f'deer/{DEER_WNID}_') for n in names)
            else:
                assert len(names) == per_class
                for n in names:  # flat val/ names carry no synset: the label file's does
                    assert n.startswith('imagenet/')
                    assert wnid in n or val_synsets[osp.basename(n)] == wnid, n
        assert not any(other in n for other in OTHERS for n, _ in samples)
        for name, _ in samples:  # every path resolves through the links
            assert cv2.imread(osp.join(out, name)) is not None, name
    deer_train = {n for n, lab in train if lab == 4}
    deer_val = {n for n, lab in val if lab == 4}
    assert len(deer_val) == 3 and len(deer_train) == NUM_DEER - 3
    assert not deer_train & deer_val  # disjoint, the text file ignored
    assert summary.counts['deer'] == (NUM_DEER - 3, 3)
    with open(osp.join(out, 'meta', 'classes.txt')) as f:
        assert tuple(line.rstrip('\n') for line in f) == IMAGENET10_CLASSES
    # The fixture's counts are far from the paper's 1300 / 50: each class says so.
    assert len(summary.warnings) == 10 and '1300 / 50' in summary.warnings[0]


def test_deer_split_is_seeded(tmp_path):
    root = str(tmp_path / 'imagenet')
    deer, _ = _write_imagenet(root, 'folders')

    def deer_val(seed, out):
        build_imagenet10(root, deer, str(tmp_path / out), seed=seed, num_deer_val=3)
        return [n for n, lab in read_ann_file(str(tmp_path / out / 'meta' / 'val.txt'))
                if lab == 4]

    assert deer_val(0, 'a') == deer_val(0, 'b')
    assert deer_val(0, 'a') != deer_val(1, 'c')


def test_max_train_caps_every_class(tmp_path):
    root = str(tmp_path / 'imagenet')
    deer, _ = _write_imagenet(root, 'folders')
    summary = build_imagenet10(root, deer, str(tmp_path / 'o'), max_train=2, num_deer_val=3)
    assert {train for train, _ in summary.counts.values()} == {2}


def test_deer_inside_the_train_tree_is_found(tmp_path):
    root = str(tmp_path / 'imagenet')
    deer, _ = _write_imagenet(root, 'folders')
    os.rename(deer, osp.join(root, 'train', DEER_WNID))
    summary = build_imagenet10(root, None, str(tmp_path / 'o'), num_deer_val=3)
    assert summary.counts['deer'] == (NUM_DEER - 3, 3)


# ------------------------------------------------------------------ bad input, one line each
def test_missing_deer_says_so(tmp_path):
    root = str(tmp_path / 'imagenet')
    _write_imagenet(root, 'folders')
    with pytest.raises(FileNotFoundError, match=r'n02430045 \(deer\) is not part of '
                       r'ImageNet-1K .*--deer-dir'):
        build_imagenet10(root, None, str(tmp_path / 'o'))
    with pytest.raises(FileNotFoundError, match=r'deer folder \(n02430045, from '
                       r'ImageNet-22K\) not found: .*nowhere'):
        build_imagenet10(root, str(tmp_path / 'nowhere'), str(tmp_path / 'o'))


def test_other_bad_input(tmp_path):
    root = str(tmp_path / 'imagenet')
    deer, _ = _write_imagenet(root, 'flat')
    with pytest.raises(ValueError, match=r'n02430045 \(deer\), need more than 50'):
        build_imagenet10(root, deer, str(tmp_path / 'o'))
    with open(osp.join(root, 'meta', 'val.txt'), 'a') as f:
        f.write('ILSVRC2012_val_00009999.JPEG 12\n')
    with pytest.raises(ValueError, match=r'val.txt:23: class index 12, but .* has 11 synset'):
        build_imagenet10(root, deer, str(tmp_path / 'o'), num_deer_val=3)
    os.remove(osp.join(root, 'meta', 'val.txt'))
    with pytest.raises(FileNotFoundError, match='no synset folders and no label file'):
        build_imagenet10(root, deer, str(tmp_path / 'o'), num_deer_val=3)
    os.rename(osp.join(root, 'train', 'n04467665'), osp.join(root, 'train', 'x'))
    with pytest.raises(FileNotFoundError, match=r'synset n04467665 \(trailer truck\) not'):
        build_imagenet10(root, deer, str(tmp_path / 'o'), num_deer_val=3)


def test_cli_one_line_when_deer_is_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    root = str(tmp_path / 'imagenet')
    deer, _ = _write_imagenet(root, 'folders')
    tool = runpy.run_path(TOOL)
    assert run_cli(tool['main'], [root, '--out', str(tmp_path / 'o')]) == 2
    stderr = capsys.readouterr().err
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert 'n02430045 (deer) is not part of ImageNet-1K' in stderr
    assert run_cli(tool['main'], [root, '--deer-dir', deer, '--out', str(tmp_path / 'o'),
                                  '--deer-val', '3']) == 0
    stdout = capsys.readouterr().out
    assert 'deer: 6 train, 3 val' in stdout and 'data_root=' in stdout
