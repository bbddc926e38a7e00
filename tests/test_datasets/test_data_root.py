import os.path as osp

import pytest
from mmengine.config import Config

from mmdet_rnnpool.datasets.data_root import rebase_data_root

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
BASES = [
    osp.join(REPO, 'configs', '_base_', 'datasets', 'wider_face.py'),
    osp.join(REPO, 'configs', '_base_', 'datasets', 'wider_face_qvga_gray.py'),
]


def _roots(cfg):
    return [
        cfg.data_root,
        cfg.train_dataloader.dataset.data_root,
        cfg.val_dataloader.dataset.data_root,
        cfg.test_dataloader.dataset.data_root,
    ]


@pytest.mark.parametrize('path', BASES)
def test_default_root(path, monkeypatch):
    monkeypatch.delenv('WIDER_FACE_ROOT', raising=False)
    cfg = Config.fromfile(path)
    assert _roots(cfg) == ['data/WIDERFace/'] * 4
    assert cfg.val_evaluator == dict(type='WIDERFaceMetric',
                                     gt_dir='data/WIDERFace/eval_tools/ground_truth/')
    assert cfg.test_evaluator.gt_dir == cfg.val_evaluator.gt_dir
    assert cfg.train_dataloader.batch_size == 32


@pytest.mark.parametrize('path', BASES)
def test_environment_variable_reaches_every_path(path, monkeypatch):
    monkeypatch.setenv('WIDER_FACE_ROOT', '/datasets/mini')
    cfg = Config.fromfile(path)
    assert _roots(cfg) == ['/datasets/mini'] * 4
    assert cfg.val_evaluator.gt_dir == '/datasets/mini/eval_tools/ground_truth/'
    assert cfg.test_evaluator.gt_dir == '/datasets/mini/eval_tools/ground_truth/'


def test_cfg_options_alone_do_not_propagate_but_rebase_does(monkeypatch):
    monkeypatch.delenv('WIDER_FACE_ROOT', raising=False)
    cfg = Config.fromfile(BASES[0])
    cfg.merge_from_dict({'data_root': '/elsewhere/'})
    # This is MMEngine's behaviour the config comment warns about.
    assert cfg.train_dataloader.dataset.data_root == 'data/WIDERFace/'

    cfg = Config.fromfile(BASES[0])
    changed = rebase_data_root(cfg, '/elsewhere')
    assert _roots(cfg) == ['/elsewhere/'] * 4
    assert cfg.val_evaluator.gt_dir == '/elsewhere/eval_tools/ground_truth/'
    assert cfg.test_evaluator.gt_dir == '/elsewhere/eval_tools/ground_truth/'
    assert changed == 6  # data_root, 3 dataset roots and 2 gt_dirs, nothing else
    # Relative paths inside the root are untouched.
    assert cfg.train_dataloader.dataset.ann_file == \
        'wider_face_split/wider_face_train_bbx_gt.txt'


def test_rebase_needs_a_root():
    with pytest.raises(ValueError, match='no top-level data_root'):
        rebase_data_root(Config(dict(a=1)), '/x')
    with pytest.raises(ValueError, match='data_root must be a non-empty str'):
        rebase_data_root(Config(dict(data_root='d/')), '')
