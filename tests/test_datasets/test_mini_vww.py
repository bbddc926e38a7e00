"""The mini Visual Wake Words builder: the real COCO layout, labels by the VWW rule, seeded."""
import filecmp
import json
import os
import os.path as osp
import runpy

import cv2
import numpy as np
import pytest

from mmdet_rnnpool.datasets.classification_ann_file import read_ann_file
from mmdet_rnnpool.datasets.coco_instances import load_coco_instances
from mmdet_rnnpool.datasets.mini_vww import (MINIVAL_IDS_FILE, MiniVWWConfig, build_mini_vww,
                                             generate_image)
from mmdet_rnnpool.datasets.mini_wider import load_material
from mmdet_rnnpool.datasets.visual_wake_words import vww_label

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
SMALL = dict(num_train2014=16, num_val2014=10, num_minival=6)


def _files(root):
    out = []
    for dirpath, _, names in os.walk(root):
        out += [osp.relpath(osp.join(dirpath, n), root) for n in names]
    return sorted(out)


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('mini_vww'))
    summary = build_mini_vww(root, seed=0, cfg=MiniVWWConfig(**SMALL), progress=False)
    return root, summary


def test_real_coco_layout_converted(built):
    root, summary = built
    files = _files(root)
    for name in ('annotations/instances_train2014.json', 'annotations/instances_val2014.json',
                 MINIVAL_IDS_FILE, 'meta/train.txt', 'meta/val.txt', 'meta/classes.txt'):
        assert name in files
    assert len([f for f in files if f.startswith('train2014/')]) == 16
    assert len([f for f in files if f.startswith('val2014/')]) == 10
    train = read_ann_file(osp.join(root, 'meta', 'train.txt'))
    minival = read_ann_file(osp.join(root, 'meta', 'val.txt'))
    assert len(train) == 16 + 10 - 6 and len(minival) == 6
    assert summary.counts['val'] == {
        'no_person': sum(1 for _, lab in minival if lab == 0),
        'person': sum(1 for _, lab in minival if lab == 1)}
    # Both labels occur; every listed image is a readable colour JPEG of the configured size.
    assert {lab for _, lab in train} == {0, 1}
    for name, _ in train + minival:
        image = cv2.imread(osp.join(root, name))
        assert image is not None and image.shape[2] == 3 and 128 <= image.shape[1] <= 192


def test_labels_follow_the_rule_from_the_json(built):
    root, _ = built
    labels = dict(read_ann_file(osp.join(root, 'meta', 'train.txt')))
    labels.update(read_ann_file(osp.join(root, 'meta', 'val.txt')))
    for folder in ('train2014', 'val2014'):
        instances = load_coco_instances(
            osp.join(root, 'annotations', f'instances_{folder}.json'))
        for image in instances.images.values():
            label = labels[f'{folder}/{image.file_name}']
            assert label == vww_label(image, instances.category_id('person'))
            assert label == int(bool(image.objects)) or \
                all(o.area / (image.width * image.height) <= 0.005 for o in image.objects)
            for obj in image.objects:  # boxes inside the image, mask area within the box
                x, y, w, h = obj.bbox
                assert x >= 0 and y >= 0 and x + w <= image.width and y + h <= image.height
                assert 0 < obj.area <= w * h


def test_small_people_are_no_person(tmp_path):
    cfg = MiniVWWConfig(num_train2014=6, num_val2014=2, num_minival=2, person_prob=0.0,
                        small_person_prob=1.0, distractor_prob=0.0)
    summary = build_mini_vww(str(tmp_path), seed=0, cfg=cfg, progress=False)
    data = json.load(open(tmp_path / 'annotations' / 'instances_train2014.json'))
    assert len(data['annotations']) == 6  # one tiny person in every image ...
    assert summary.counts['train']['person'] == 0  # ... and none counts


def test_minival_faces_are_held_out():
    """Minival images draw their faces from LFW crops 80-99 only, the others from 0-79."""
    faces, backgrounds = load_material()
    cfg = MiniVWWConfig(person_prob=1.0, distractor_prob=0.0)
    held_out = faces.copy()
    held_out[80:] = 0.0  # black faces: a minival image would show them
    for minival in (True, False):
        _, objects = generate_image(cfg, held_out, backgrounds, 0, 'val2014', 3, minival)
        image, _ = generate_image(cfg, faces, backgrounds, 0, 'val2014', 3, minival)
        dark, _ = generate_image(cfg, held_out, backgrounds, 0, 'val2014', 3, minival)
        x, y, w, h = (int(v) for v in objects[0]['bbox'])
        changed = np.abs(image[y:y + h, x:x + w].astype(int)
                         - dark[y:y + h, x:x + w].astype(int)).mean()
        assert (changed > 5) == minival


def test_deterministic_for_a_seed(built, tmp_path):
    root, _ = built
    again = tmp_path / 'again'
    build_mini_vww(str(again), seed=0, cfg=MiniVWWConfig(**SMALL), progress=False)
    files = _files(root)
    assert files == _files(str(again))
    for f in files:
        assert filecmp.cmp(osp.join(root, f), str(again / f), shallow=False), f
    other = tmp_path / 'other'
    build_mini_vww(str(other), seed=1, cfg=MiniVWWConfig(**SMALL), progress=False)
    name = 'train2014/COCO_train2014_000000000001.jpg'
    assert not filecmp.cmp(osp.join(root, name), str(other / name), shallow=False)


def test_config_checks():
    with pytest.raises(ValueError, match='exceeds num_val2014'):
        MiniVWWConfig(num_val2014=3, num_minival=4)
    with pytest.raises(ValueError, match='below the VWW area threshold'):
        MiniVWWConfig(face_fraction=(0.05, 0.3))
    with pytest.raises(ValueError, match='person_prob'):
        MiniVWWConfig(person_prob=1.5)


def test_cli(tmp_path, capsys):
    tool = runpy.run_path(osp.join(REPO, 'tools', 'dataset_converters', 'build_mini_vww.py'))
    out = tmp_path / 'cli'
    tool['main'](['--out', str(out), '--num-train2014', '3', '--num-val2014', '2',
                  '--num-minival', '1', '--quiet'])
    printed = capsys.readouterr().out
    assert 'not a benchmark' in printed and 'data_root=' in printed
    assert len(read_ann_file(str(out / 'meta' / 'val.txt'))) == 1
