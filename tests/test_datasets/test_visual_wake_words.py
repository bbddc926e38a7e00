"""The Visual Wake Words converter on a small generated COCO 2014 folder (the real layout)."""
import json
import os
import os.path as osp
import runpy
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmdet_rnnpool.datasets.classification_ann_file import read_ann_file
from mmdet_rnnpool.datasets.coco_instances import CocoImage, CocoObject
from mmdet_rnnpool.datasets.visual_wake_words import (VWW_CLASSES, build_visual_wake_words,
                                                      read_minival_ids, vww_label)
from mmdet_rnnpool.utils.cli import TRACEBACK_ENV, run_cli

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'build_vww.py')
CATEGORIES = [dict(id=1, name='person', supercategory='person'),
              dict(id=18, name='dog', supercategory='animal')]
W, H = 200, 100  # image area 20000: the 0.5 % threshold is an area of 100


def _ann(image_id, category_id, bbox, area=None, iscrowd=0):
    return dict(image_id=image_id, category_id=category_id, bbox=list(bbox),
                area=float(bbox[2] * bbox[3] if area is None else area), iscrowd=iscrowd)


#: image id -> (annotations, expected label with COCO 'area', expected label with box w*h)
TRAIN = {
    9: ([_ann(9, 1, (0, 0, 20, 10), area=100.5)], 1, 1),  # just over 0.5 %
    25: ([_ann(25, 1, (0, 0, 10, 10))], 0, 0),  # exactly 0.5 % either way: not over
    30: ([_ann(30, 18, (0, 0, 200, 100))], 0, 0),  # a big dog is no person
    34: ([], 0, 0),  # nothing at all
    36: ([_ann(36, 1, (5, 5, 60, 40), iscrowd=1)], 1, 1),  # a crowd of people counts
    # a thin person: box 40 x 10 = 400 (2 %), mask area 60 (0.3 %)
    42: ([_ann(42, 1, (0, 0, 40, 10), area=60.0)], 0, 1),
    49: ([_ann(49, 1, (0, 0, 5, 5)), _ann(49, 1, (50, 50, 30, 30)),
          _ann(49, 18, (0, 0, 10, 10))], 1, 1),  # one small, one big person
}
VAL = {
    100: ([_ann(100, 1, (0, 0, 100, 50))], 1, 1),
    139: ([_ann(139, 1, (0, 0, 4, 4))], 0, 0),
    285: ([], 0, 0),
    632: ([_ann(632, 1, (10, 10, 90, 90))], 1, 1),
}
MINIVAL = (139, 632)


def _write_coco(root, with_images=True):
    """A COCO 2014 folder: annotations/instances_{train,val}2014.json + real JPEG files."""
    rng = np.random.default_rng(0)
    for folder, spec in (('train2014', TRAIN), ('val2014', VAL)):
        os.makedirs(osp.join(root, folder), exist_ok=True)
        images, annotations = [], []
        for image_id, (anns, _, _) in spec.items():
            name = f'COCO_{folder}_{image_id:012d}.jpg'
            images.append(dict(id=image_id, file_name=name, width=W, height=H,
                               license=1, coco_url='', date_captured=''))
            for ann in anns:
                annotations.append(dict(ann, id=len(annotations) + 1, segmentation=[]))
            if with_images:
                pixels = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
                assert cv2.imwrite(osp.join(root, folder, name), pixels)
        os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
        with open(osp.join(root, 'annotations', f'instances_{folder}.json'), 'w') as f:
            json.dump(dict(info={}, licenses=[], images=images, annotations=annotations,
                           categories=CATEGORIES), f)
    ids = osp.join(root, 'mscoco_minival_ids.txt')
    with open(ids, 'w') as f:
        f.write(''.join(f'{i}\n' for i in MINIVAL))
    return ids


@pytest.fixture
def coco(tmp_path):
    root = str(tmp_path / 'coco')
    return root, _write_coco(root)


def _expected(column):
    train, minival = {}, {}
    for folder, spec in (('train2014', TRAIN), ('val2014', VAL)):
        for image_id, row in spec.items():
            name = f'{folder}/COCO_{folder}_{image_id:012d}.jpg'
            split = minival if image_id in MINIVAL and folder == 'val2014' else train
            split[name] = row[column]
    return train, minival


@pytest.mark.parametrize('area_source,column', [('annotation', 1), ('bbox', 2)])
def test_rule_and_split(coco, tmp_path, area_source, column):
    root, ids = coco
    out = str(tmp_path / 'vww')
    summary = build_visual_wake_words(root, ids, out, area_source=area_source,
                                      progress=False)
    train, minival = _expected(column)
    assert dict(read_ann_file(osp.join(out, 'meta', 'train.txt'))) == train
    assert dict(read_ann_file(osp.join(out, 'meta', 'val.txt'))) == minival
    # The other 115 K: all of train2014 and the val2014 images not in minival.
    assert len(train) == len(TRAIN) + len(VAL) - len(MINIVAL)
    assert summary.counts['val'] == {'no_person': 1, 'person': 1}
    assert sum(summary.counts['train'].values()) == len(train)
    assert summary.counts['train']['person'] == sum(train.values())
    with open(osp.join(out, 'meta', 'classes.txt')) as f:
        assert tuple(f.read().split()) == VWW_CLASSES
    # The paths resolve through the links placed next to meta/.
    for name in list(train) + list(minival):
        assert cv2.imread(osp.join(out, name)).shape == (H, W, 3)
    assert osp.islink(osp.join(out, 'train2014'))


def test_written_in_place_without_links(coco):
    root, ids = coco
    build_visual_wake_words(root, ids, progress=False)
    assert not osp.islink(osp.join(root, 'train2014'))
    assert len(read_ann_file(osp.join(root, 'meta', 'val.txt'))) == len(MINIVAL)


def test_threshold_is_a_parameter(coco, tmp_path):
    root, ids = coco
    out = str(tmp_path / 'strict')
    build_visual_wake_words(root, ids, out, threshold=0.2, progress=False)
    labels = dict(read_ann_file(osp.join(out, 'meta', 'train.txt')))
    # Over 20 % of the image: only the val2014 person of 100 x 50 (25 %) among the training
    # images; the crowd of 60 x 40 (12 %) is not.
    assert sum(labels.values()) == 1 and labels['val2014/COCO_val2014_000000000100.jpg'] == 1


def test_vww_label_direct():
    image = CocoImage(1, 'a.jpg', 10, 10, [CocoObject(1, (0, 0, 1, 1), 0.6)])
    assert vww_label(image, person_id=1) == 1  # 0.6 of 100 pixels > 0.5 %
    assert vww_label(image, person_id=1, area_source='bbox') == 1  # 1 of 100 pixels
    assert vww_label(image, person_id=1, threshold=0.01) == 0
    assert vww_label(image, person_id=18) == 0
    with pytest.raises(ValueError, match='area_source'):
        vww_label(image, 1, area_source='mask')


def test_mmpretrain_reads_the_files(coco, tmp_path):
    """MMPretrain's own CustomDataset + pipeline read the written files as the configs do."""
    pytest.importorskip('mmpretrain')
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.datasets import CustomDataset  # noqa: F401  (registers)
    from mmpretrain.registry import DATASETS
    root, ids = coco
    out = str(tmp_path / 'vww')
    build_visual_wake_words(root, ids, out, progress=False)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'rnnpool_cls',
                                   'mobilenet-v2-0.35x_8xb32-150e_vww-96px.py'))
    for loader, expected in ((cfg.train_dataloader, _expected(1)[0]),
                             (cfg.val_dataloader, _expected(1)[1])):
        dataset_cfg = loader.dataset.copy()
        dataset_cfg.data_root = out
        with DefaultScope.overwrite_default_scope('mmpretrain'):  # as MMPretrain's Runner
            dataset = DATASETS.build(dataset_cfg)
        assert dataset.metainfo['classes'] == VWW_CLASSES
        assert len(dataset) == len(expected)
        sample = dataset[0]
        assert tuple(sample['inputs'].shape) == (3, 96, 96)
        name = osp.relpath(dataset.get_data_info(0)['img_path'], out)
        assert int(sample['data_samples'].gt_label) == expected[name]


# ------------------------------------------------------------------ bad input, one line each
def test_missing_annotation_file(coco, tmp_path):
    root, ids = coco
    os.remove(osp.join(root, 'annotations', 'instances_val2014.json'))
    with pytest.raises(FileNotFoundError, match='instances_val2014.json'):
        build_visual_wake_words(root, ids, str(tmp_path / 'o'), progress=False)


def test_malformed_json_names_file_and_line(coco, tmp_path):
    root, ids = coco
    path = osp.join(root, 'annotations', 'instances_train2014.json')
    with open(path, 'w') as f:
        f.write('{"images": [\n  {"id": 1,}\n]}\n')
    with pytest.raises(ValueError, match=r'instances_train2014.json:2:\d+: malformed JSON'):
        build_visual_wake_words(root, ids, str(tmp_path / 'o'), progress=False)


@pytest.mark.parametrize('mutate,message', [
    (lambda d: d.pop('annotations'), '"annotations" is missing'),
    (lambda d: d['categories'][0].update(name='human'), "no category named 'person'"),
    (lambda d: d['images'][0].pop('width'), r'images\[0\] has no "width"'),
    (lambda d: d['annotations'][0].update(image_id=7777), r'"image_id" 7777 is not in'),
    (lambda d: d['annotations'][0].update(bbox=[1, 2]), r'"bbox" must be \[x, y, w, h\]'),
])
def test_bad_fields_name_the_file(coco, tmp_path, mutate, message):
    root, ids = coco
    path = osp.join(root, 'annotations', 'instances_train2014.json')
    data = json.load(open(path))
    mutate(data)
    json.dump(data, open(path, 'w'))
    with pytest.raises(ValueError, match=message) as info:
        build_visual_wake_words(root, ids, str(tmp_path / 'o'), progress=False)
    assert path in str(info.value)


def test_minival_ids_errors(coco, tmp_path):
    root, ids = coco
    with open(ids, 'w') as f:
        f.write('139\n# a comment\n\n63x\n')
    with pytest.raises(ValueError, match=r'mscoco_minival_ids.txt:4: expected an image id'):
        read_minival_ids(ids)
    with open(ids, 'w') as f:
        f.write('139\n9\n')  # 9 is a train2014 image
    with pytest.raises(ValueError, match=r'1 of its 2 ids are not images of .*val2014.json '
                       r'\(first: 9\)'):
        build_visual_wake_words(root, ids, str(tmp_path / 'o'), progress=False)
    with pytest.raises(FileNotFoundError, match='minival id list not found'):
        read_minival_ids(str(tmp_path / 'nope.txt'))


def test_missing_image_file(coco, tmp_path):
    root, ids = coco
    os.remove(osp.join(root, 'val2014', 'COCO_val2014_000000000285.jpg'))
    with pytest.raises(FileNotFoundError, match=r'1 of the 4 images listed in .* \(first: '
                       r'COCO_val2014_000000000285.jpg\)'):
        build_visual_wake_words(root, ids, str(tmp_path / 'o'), progress=False)
    # --no-check-images trusts the json
    build_visual_wake_words(root, ids, str(tmp_path / 'o'), check_images=False,
                            progress=False)


def _run_tool(capsys, *args):
    """The tool's main under its command-line wrapper, in this process (as fast as a call)."""
    tool = runpy.run_path(TOOL)
    code = run_cli(tool['main'], list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_progress_and_one_line_errors(coco, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    root, ids = coco
    out = str(tmp_path / 'cli')
    code, stdout, stderr = _run_tool(capsys, root, '--minival-ids', ids, '--out', out)
    assert code == 0, stderr
    assert 'elapsed' in stdout  # the progress bar
    assert 'val (minival): 2 images, 1 person, 1 no_person' in stdout
    assert 'data_root=' in stdout

    with open(osp.join(root, 'annotations', 'instances_val2014.json'), 'w') as f:
        f.write('{"images": [}')
    code, _, stderr = _run_tool(capsys, root, '--minival-ids', ids, '--out', out, '--quiet')
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert 'instances_val2014.json:1:' in stderr and 'malformed JSON' in stderr
    assert 'Traceback' not in stderr

    code, _, stderr = _run_tool(capsys, str(tmp_path / 'no_coco'), '--minival-ids', ids,
                                '--quiet')
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert 'COCO folder not found' in stderr


def test_cli_runs_as_a_script(coco, tmp_path):
    """The file runs as ``python tools/dataset_converters/build_vww.py`` (imports, exit code)."""
    root, ids = coco
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop(TRACEBACK_ENV, None)
    proc = subprocess.run([sys.executable, TOOL, root, '--minival-ids', ids, '--out',
                           str(tmp_path / 'o'), '--threshold', '1.5', '--quiet'],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        'build_vww.py: error: ValueError: threshold must be in [0, 1), got 1.5 (set '
        f'{TRACEBACK_ENV}=1 for the traceback)']
