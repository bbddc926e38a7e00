import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from mmdet_rnnpool.datasets import WIDERFaceOfficialDataset
from wider_face_fixture import write_split_files

SIZES = {  # (height, width) of the images the fixture's txt names
    '0--Parade/0_Parade_marchingband_1_5.jpg': (100, 120),
    '1--Handshaking/1_Handshaking_2.jpg': (48, 64),
    '1--Handshaking/1_Handshaking_3.jpg': (40, 56),
}


@pytest.fixture
def root(tmp_path):
    write_split_files(tmp_path)
    for name, (h, w) in SIZES.items():
        for split in ('WIDER_val', 'WIDER_test'):
            path = tmp_path / split / 'images' / name
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))
    return str(tmp_path)


def _dataset(root, **kwargs):
    args = dict(data_root=root, ann_file='wider_face_split/wider_face_val_bbx_gt.txt',
                data_prefix=dict(img='WIDER_val/images/'), test_mode=True, pipeline=[])
    args.update(kwargs)
    return WIDERFaceOfficialDataset(**args)


def test_reads_official_files(root):
    dataset = _dataset(root)
    assert dataset.metainfo['classes'] == ('face', )
    assert len(dataset) == 3
    info = dataset.get_data_info(0)
    assert info['img_id'] == '0--Parade/0_Parade_marchingband_1_5'
    assert info['img_path'] == osp.join(root, 'WIDER_val/images',
                                        '0--Parade/0_Parade_marchingband_1_5.jpg')
    assert (info['height'], info['width']) == (100, 120)  # from the image header
    valid, degenerate, invalid = info['instances']
    assert valid == dict(bbox=[10, 20, 40, 60], bbox_label=0, ignore_flag=0, blur=0,
                         expression=0, illumination=0, invalid=0, occlusion=0, pose=0)
    # Kept, not dropped: a zero-width box is an ignored instance; an invalid face is a face
    # (the release trains them as faces).
    assert degenerate['ignore_flag'] == 1 and degenerate['bbox'] == [50, 60, 50, 70]
    assert degenerate['blur'] == 1
    assert invalid['ignore_flag'] == 0
    assert {k: invalid[k] for k in ('blur', 'expression', 'illumination', 'invalid',
                                    'occlusion', 'pose')} == dict(
                                        blur=2, expression=1, illumination=1, invalid=1,
                                        occlusion=2, pose=1)
    assert dataset.get_data_info(1)['instances'] == []  # the zero-face image
    assert (dataset.get_data_info(2)['height'], dataset.get_data_info(2)['width']) == (40, 56)
    assert dataset.get_cat_ids(0) == [0, 0, 0]


def test_min_size_and_empty_filter(root):
    dataset = _dataset(root, min_size=10)
    flags = [inst['ignore_flag'] for inst in dataset.get_data_info(2)['instances']]
    assert flags == [1, 1]  # 8 x 9 and 3 x 12 faces are below 10 px

    train = _dataset(root, test_mode=False, filter_cfg=dict(filter_empty_gt=True))
    assert [train.get_data_info(i)['img_id'] for i in range(len(train))] == [
        '0--Parade/0_Parade_marchingband_1_5', '1--Handshaking/1_Handshaking_3'
    ]
    train = _dataset(root, test_mode=False, filter_cfg=dict(filter_empty_gt=True),
                     min_size=10)
    assert len(train) == 1
    assert len(_dataset(root, test_mode=False)) == 3  # no filter_cfg: keep all


def test_invalid_faces_as_faces_or_ignored(root):
    def flags(dataset):
        return [inst['ignore_flag'] for inst in dataset.get_data_info(0)['instances']]
    # valid, zero-width, invalid
    assert flags(_dataset(root)) == [0, 1, 0]
    assert flags(_dataset(root, invalid_faces='face')) == [0, 1, 0]
    assert flags(_dataset(root, invalid_faces='ignore')) == [0, 1, 1]
    with pytest.raises(ValueError, match='invalid_faces must be one of'):
        _dataset(root, invalid_faces='drop')


def test_eager_sizes(root):
    dataset = _dataset(root, lazy_size=False, serialize_data=False)
    assert [(d['height'], d['width']) for d in dataset.data_list] == list(SIZES.values())


def test_test_filelist(root):
    dataset = _dataset(root, ann_file='wider_face_split/wider_face_test_filelist.txt',
                       data_prefix=dict(img='WIDER_test/images/'))
    assert len(dataset) == 2
    info = dataset.get_data_info(1)
    assert info['instances'] == [] and info['img_id'] == '1--Handshaking/1_Handshaking_2'
    assert (info['height'], info['width']) == (48, 64)


def test_errors(root, tmp_path):
    bad = osp.join(root, 'wider_face_split', 'bad.txt')
    with open(bad, 'w') as f:
        f.write('a/x.jpg\n1\n1 2 3\n')
    with pytest.raises(ValueError, match=r'bad\.txt:3: expected 10 numbers'):
        _dataset(root, ann_file='wider_face_split/bad.txt')
    with pytest.raises(ValueError, match='ann_format must be one of'):
        _dataset(root, ann_format='coco')
    with pytest.raises(ValueError, match=r"unknown keys \['min_size'\]"):
        _dataset(root, test_mode=False, filter_cfg=dict(filter_empty_gt=True, min_size=32))
    with pytest.raises(ValueError, match='min_size must be >= 0'):
        _dataset(root, min_size=-1)
    missing = _dataset(root, data_prefix=dict(img='nowhere/'))
    with pytest.raises(FileNotFoundError, match='WIDER FACE image not found: .*nowhere'):
        missing.get_data_info(0)


def test_loads_through_mmdet_pipeline(root):
    init_default_scope('mmdet')
    dataset = _dataset(
        root,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='PackDetInputs')
        ])
    sample = dataset[0]['data_samples']
    # The valid and the invalid face are faces; the zero-width box is ignored.
    np.testing.assert_allclose(sample.gt_instances.bboxes.numpy(),
                               [[10, 20, 40, 60], [70, 10, 90, 35]])
    assert len(sample.ignored_instances) == 1
    assert sample.img_id == '0--Parade/0_Parade_marchingband_1_5'
