"""tools/test.py --tta (the release's multi-scale protocol) and the WIDER FACE test-split
submission tool, end to end on a tiny mini dataset in the official layout."""
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(REPO, 'configs', 'rnnpool_face',
                       'rnnpool-face-quant_1xb8-demo_mini-wider.py')
SCUT_CONFIG = osp.join(REPO, 'configs', 'rnnpool_face',
                       'rnnpool-face-m4_1xb64-300e_scut-head-qvga-gray.py')

CONFIG = """
_base_ = {base!r}
data_root = {root!r}
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(gt_dir=data_root + 'eval_tools/ground_truth/')
test_evaluator = val_evaluator
"""


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A tiny dataset (with a test split) and a checkpoint of the untrained demo model."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmdet_rnnpool  # noqa: F401
    from mmdet_rnnpool.datasets import MiniWiderConfig, build_mini_wider
    tmp = tmp_path_factory.mktemp('tta')
    root = str(tmp / 'wider') + '/'
    build_mini_wider(root, seed=2, progress=False,
                     cfg=MiniWiderConfig(num_train=0, num_val=2, num_test=3, min_face=24,
                                         max_face=96, image_width=(160, 200),
                                         aspect=(0.75, 0.75), max_faces_per_image=2,
                                         empty_prob=0.0))
    config = tmp / 'tiny.py'
    config.write_text(CONFIG.format(base=DEMO_CONFIG, root=root))
    torch.manual_seed(0)
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(str(config)).model)
    checkpoint = str(tmp / 'untrained.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return dict(root=root, config=str(config), checkpoint=checkpoint, tmp=tmp)


# The shipped size limit (1700 x 1200) would enlarge these 200 px images 8x; a smaller limit
# keeps the run short and still enlarges them 2x and more (see test_s3fd_multi_scale_aug.py for
# the views at the real limit).
SMALL_LIMIT = ['--cfg-options', 'tta_pipeline.1.max_area=120000']


def run(args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable] + args, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=1200)


def test_tta_runs_the_release_protocol_and_names_it(tiny):
    result = run(['tools/test.py', tiny['config'], tiny['checkpoint'], '--tta', '--work-dir',
                  str(tiny['tmp'] / 'tta')] + SMALL_LIMIT)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    for setting in ('easy', 'medium', 'hard', 'easy_le3'):
        assert re.search(rf'widerface/multiscale/{setting}: [0-9.]+', out), setting
    assert 'WIDER FACE AP (multiscale test' in out


def test_tta_needs_tta_model_in_the_config(tiny, capsys):
    # in-process: the error comes before any model or data is built
    import importlib.util

    from mmdet_rnnpool.utils.cli import run_cli
    spec = importlib.util.spec_from_file_location('tools_test', osp.join(REPO, 'tools', 'test.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert run_cli(tool.main, [SCUT_CONFIG, tiny['checkpoint'], '--tta']) == 2
    err = capsys.readouterr().err
    assert 'has no tta_model' in err and SCUT_CONFIG in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize('tta', [pytest.param(False, marks=pytest.mark.slow), True])
def test_test_split_writes_the_submission_files(tiny, tta):
    from mmdet_rnnpool.datasets import parse_wider_filelist
    from mmdet_rnnpool.evaluation.functional import read_wider_predictions
    out_dir = str(tiny['tmp'] / f'submission_{tta}')
    args = ['tools/wider_test_predictions.py', tiny['config'], tiny['checkpoint'], '--out-dir',
            out_dir, '--work-dir', str(tiny['tmp'] / f'test_split_{tta}')]
    result = run(args + (['--tta'] + SMALL_LIMIT if tta else []))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert 'official submission layout' in out and 'widerface/easy' not in out
    names = parse_wider_filelist(
        osp.join(tiny['root'], 'wider_face_split', 'wider_face_test_filelist.txt'))
    predictions = read_wider_predictions(out_dir)
    assert sorted(predictions) == sorted(n.rsplit('.', 1)[0] for n in names)
    total = 0
    for name in names:
        height, width = cv2.imread(osp.join(tiny['root'], 'WIDER_test', 'images', name)).shape[:2]
        boxes = predictions[name.rsplit('.', 1)[0]]
        total += len(boxes)
        # x y w h in original-image pixels: the enlarged views (2x and more) are mapped back
        x, y, w, h, score = boxes.T
        assert (x >= -1e-3).all() and (y >= -1e-3).all() and (w >= 0).all() and (h >= 0).all()
        assert (x + w <= width + 1e-3).all() and (y + h <= height + 1e-3).all()
        assert np.isfinite(boxes).all() and (score >= 0.05).all()
    assert total > 0
