"""The dataset configs end to end: the mini dataset read through the official-layout dataset,
the S3FD augmentation and PackDetInputs, as the training tools build them."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdet_rnnpool.datasets  # noqa: F401  (registers the dataset and transforms)
from mmdet.registry import DATASETS
from mmdet_rnnpool.datasets import MiniWiderConfig, build_mini_wider
from mmdet_rnnpool.evaluation.functional.wider_ground_truth import load_wider_ground_truth

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


@pytest.fixture(scope='module')
def mini_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('mini_wider')
    build_mini_wider(str(root), seed=0, cfg=MiniWiderConfig(num_train=4, num_val=3),
                     progress=False)
    return str(root)


def _config(name, root, monkeypatch):
    monkeypatch.setenv('WIDER_FACE_ROOT', root)
    init_default_scope('mmdet')
    return Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', name))


def test_rgb_train_and_val(mini_root, monkeypatch):
    cfg = _config('wider_face.py', mini_root, monkeypatch)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    assert 1 <= len(train) <= 4
    np.random.seed(0)
    for i in range(len(train)):
        item = train[i]
        inputs, sample = item['inputs'], item['data_samples']
        assert inputs.shape == (3, 640, 640)
        boxes = sample.gt_instances.bboxes.numpy()
        assert np.all(boxes >= 0) and np.all(boxes <= 640)
        assert torch.all(sample.gt_instances.labels == 0)

    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(val) == 3
    item = val[0]
    h, w = item['inputs'].shape[1:]
    assert abs(h * w - 640 * 480) <= h + w
    meta = item['data_samples'].metainfo
    ori_h, ori_w = meta['ori_shape']
    assert meta['scale_factor'] == pytest.approx((w / ori_w, h / ori_h))
    assert meta['img_id'].count('/') == 1  # '<event>/<stem>', the evaluation key
    keys = {im.key for im in load_wider_ground_truth(cfg.val_evaluator.gt_dir)}
    assert {val.get_data_info(i)['img_id'] for i in range(len(val))} == keys


def test_qvga_gray(mini_root, monkeypatch):
    cfg = _config('wider_face_qvga_gray.py', mini_root, monkeypatch)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    np.random.seed(0)
    item = train[0]
    assert item['inputs'].shape == (1, 240, 320)
    val = DATASETS.build(cfg.test_dataloader.dataset)
    inputs = val[0]['inputs']
    assert inputs.shape[0] == 1
    assert abs(inputs.shape[1] * inputs.shape[2] - 320 * 240) <= sum(inputs.shape[1:])
