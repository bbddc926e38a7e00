"""The release's multi-scale test views and the transform that makes them."""
import math
import os.path as osp

import cv2
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdet_rnnpool  # noqa: F401  (registration)
from mmdet_rnnpool.datasets.transforms import S3FDMultiScaleAug, s3fd_test_views

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
LIMIT = 1700 * 1200


def _compose(pipeline):
    init_default_scope('mmdet')  # as the Runner does (default_scope='mmdet')
    return Compose(pipeline)


def _summary(views):
    return [(v.name, round(v.scale, 4), v.flip, v.size_filter) for v in views]


def test_views_of_a_typical_wider_image():
    # 1024 x 768: m = sqrt(1700 * 1200 / (1024 * 768)) = 1.6107 -> one enlarged view at m
    m = math.sqrt(LIMIT / (1024 * 768))
    assert _summary(s3fd_test_views(768, 1024)) == [
        ('original', 1.0, False, None),
        ('flip', 1.0, True, None),
        ('shrink', 0.5, False, dict(max_side_above=30.0)),
        ('enlarge', round(m, 4), False, dict(min_side_below=100.0)),
    ]


def test_views_of_a_small_image_enlarge_by_doubling_up_to_the_limit():
    # 300 x 200: m = 5.83 -> enlarged at 2, 4 and m
    m = math.sqrt(LIMIT / (300 * 200))
    views = s3fd_test_views(200, 300)
    assert [(v.name, round(v.scale, 4)) for v in views[3:]] == [
        ('enlarge', 2.0), ('enlarge_2', 4.0), ('enlarge_3', round(m, 4))]
    assert all(v.size_filter == dict(min_side_below=100.0) for v in views[3:])
    # just above 2: enlarged at 2 and at m
    m = 2.2
    side = int(math.sqrt(LIMIT) / m)
    scales = [round(v.scale, 3) for v in s3fd_test_views(side, side)[3:]]
    assert scales == [2.0, round(math.sqrt(LIMIT / side ** 2), 3)]


def test_views_of_a_large_image_shrink_everything():
    # 3000 x 2000: m = 0.583 < 0.75 -> original shrunk to m, "shrink" at 0.5 m, "enlarge"
    # halfway between them, and both keep only faces above 30 px
    m = math.sqrt(LIMIT / (3000 * 2000))
    assert _summary(s3fd_test_views(2000, 3000)) == [
        ('original', round(m, 4), False, None),
        ('flip', round(m, 4), True, None),
        ('shrink', round(0.5 * m, 4), False, dict(max_side_above=30.0)),
        ('enlarge', round(0.75 * m, 4), False, dict(max_side_above=30.0)),
    ]
    # between the limit and 1/0.75 of it: the shrink view stays at 0.5
    m = 0.8
    side = int(math.sqrt(LIMIT) / m)
    assert round(s3fd_test_views(side, side)[2].scale, 3) == 0.5


def test_views_without_flip_and_bad_sizes():
    assert [v.name for v in s3fd_test_views(768, 1024, flip=False)] == \
        ['original', 'shrink', 'enlarge']
    with pytest.raises(ValueError, match='bad image size'):
        s3fd_test_views(0, 10)
    with pytest.raises(ValueError, match='PackDetInputs'):
        S3FDMultiScaleAug(transforms=[])


def _tta_pipeline(config):
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', config))
    return _compose(cfg.tta_pipeline)


def _image_file(tmp_path, height=200, width=300):
    img = np.full((height, width, 3), 90, np.uint8)
    img[40:80, 100:160] = (255, 255, 255)
    path = str(tmp_path / 'img.jpg')
    cv2.imwrite(path, img)
    return path


def test_config_pipeline_packs_one_sample_per_view(tmp_path):
    path = _image_file(tmp_path)
    face = dict(bbox=[100., 40., 160., 80.], bbox_label=0, ignore_flag=0)
    out = _tta_pipeline('wider_face.py')(
        dict(img_path=path, img_id='e/img', instances=[face]))
    views = s3fd_test_views(200, 300)
    assert len(out['inputs']) == len(out['data_samples']) == len(views) == 6
    for view, inputs, sample in zip(views, out['inputs'], out['data_samples']):
        h, w = round(200 * view.scale), round(300 * view.scale)
        assert tuple(inputs.shape) == (3, h, w)
        assert sample.img_shape == (h, w) and sample.ori_shape == (200, 300)
        assert sample.scale_factor == pytest.approx((w / 300, h / 200))
        assert sample.flip == view.flip and sample.tta_view == view.name
        assert sample.tta_size_filter == view.size_filter
        # ground truth stays in original-image pixels (LoadAnnotations after the resize)
        assert sample.gt_instances.bboxes.tensor.tolist() == [[100., 40., 160., 80.]]
    # the flipped view is the mirror image of the original one
    assert np.array_equal(out['inputs'][1].numpy(), out['inputs'][0].numpy()[:, :, ::-1])


def test_grey_pipeline_of_the_qvga_models(tmp_path):
    out = _tta_pipeline('wider_face_qvga_gray.py')(
        dict(img_path=_image_file(tmp_path), img_id='e/img', instances=[]))
    assert all(inputs.shape[0] == 1 for inputs in out['inputs'])
    assert len(out['inputs']) == 6
