"""The embedded classification run (`make demo-vww` = tools/demo_vww.py) and its configs."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RNNPOOL_DEMO = 'configs/rnnpool_cls/demo/mobilenet-v2-0.35x-rnnpool_1xb32-demo_mini-vww.py'
BASE_DEMO = 'configs/rnnpool_cls/demo/mobilenet-v2-0.35x_1xb32-demo_mini-vww.py'


def _env():
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop('MMDET_RNNPOOL_TRACEBACK', None)
    return env


def test_demo_models_are_the_paper_configs():
    """The demo trains the VWW models of configs/rnnpool_cls unchanged: only data and schedule
    differ, and the two demo configs differ only in the model."""
    from mmdet_rnnpool.utils.config_utils import load_config
    pairs = ((RNNPOOL_DEMO, 'mobilenet-v2-0.35x-rnnpool_8xb32-150e_vww-96px.py'),
             (BASE_DEMO, 'mobilenet-v2-0.35x_8xb32-150e_vww-96px.py'))
    demos = []
    for demo, paper in pairs:
        demo_cfg = load_config(osp.join(REPO, demo))
        paper_cfg = load_config(osp.join(REPO, 'configs', 'rnnpool_cls', paper))
        assert demo_cfg.model.to_dict() == paper_cfg.model.to_dict()
        assert demo_cfg.test_pipeline == paper_cfg.test_pipeline
        assert demo_cfg.train_pipeline == paper_cfg.train_pipeline
        assert demo_cfg.randomness.seed == 0
        demos.append(demo_cfg)
    rnnpool, base = (cfg.to_dict() for cfg in demos)
    assert rnnpool.pop('model') != base.pop('model')
    assert rnnpool == base


def test_last_layer_rnnpool_demo_model_is_the_paper_config():
    """The exporter's last-layer RNNPool VWW model (issue 13) is the paper config's model with
    exactly the RNNPool demo's data, pipelines, schedule and seed."""
    from mmdet_rnnpool.utils.config_utils import load_config
    demo = load_config(osp.join(
        REPO, 'configs/rnnpool_cls/demo/'
        'mobilenet-v2-0.35x-rnnpool-lastrnnpool_1xb32-demo_mini-vww.py')).to_dict()
    paper = load_config(osp.join(
        REPO, 'configs/rnnpool_cls/'
        'mobilenet-v2-0.35x-rnnpool-lastrnnpool_8xb32-150e_vww-224px.py'))
    rnnpool = load_config(osp.join(REPO, RNNPOOL_DEMO)).to_dict()
    assert demo.pop('model') == paper.model.to_dict()
    assert rnnpool.pop('model')['neck']['type'] != 'RNNPoolNeck'
    assert demo == rnnpool


def test_mini_vww_trains_a_couple_of_iterations(tmp_path):
    """Builds a small mini VWW and trains the RNNPool model on it with tools/train.py (MMEngine's
    Runner, MMPretrain's dataset / model / Accuracy) for two iterations, then validates."""
    from mmdet_rnnpool.datasets.mini_vww import MiniVWWConfig, build_mini_vww
    data_root = tmp_path / 'mini_vww'
    build_mini_vww(str(data_root), seed=0, progress=False,
                   cfg=MiniVWWConfig(num_train2014=12, num_val2014=8, num_minival=6))
    work_dir = tmp_path / 'work'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), RNNPOOL_DEMO, '--work-dir',
         str(work_dir), '--cfg-options', f'data_root={data_root}/', 'train_cfg.max_iters=2',
         'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
         'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
         'val_dataloader.persistent_workers=False'],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (work_dir / 'iter_2.pth').is_file()
    log = proc.stdout + proc.stderr
    assert 'accuracy/top1:' in log  # the minival evaluation ran on the 6 minival images
    top1 = float(log.split('accuracy/top1:')[-1].split()[0])
    assert 0.0 <= top1 <= 100.0


@pytest.mark.slow
def test_demo_vww_runs_both_models(tmp_path):
    work_dir, data_root = tmp_path / 'demo', tmp_path / 'mini_vww'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'demo_vww.py'), '--work-dir', str(work_dir),
         '--data-root', str(data_root), '--max-iters', '20'],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.load(open(work_dir / 'summary.json'))
    assert [s['stage'] for s in summary['stages']] == [
        'dataset', 'MobileNetV2-0.35x-RNNPool', 'MobileNetV2-0.35x']
    assert all(s['status'] == 'ok' for s in summary['stages']), summary['stages']
    rnnpool, base = (summary['models'][name]
                     for name in ('MobileNetV2-0.35x-RNNPool', 'MobileNetV2-0.35x'))
    for result in (rnnpool, base):
        assert 0.0 <= result['top1'] <= 100.0 and result['iterations'] == 20
        assert result['train_seconds'] > 0
    # RNNPool replaces the early blocks with fewer weights (Table 2: 255K vs 296K).
    assert 0 < rnnpool['params'] < base['params']
    assert summary['dataset']['val']['person'] > 0 and summary['dataset']['val']['no_person'] > 0
    assert '| MobileNetV2-0.35x-RNNPool |' in proc.stdout and 'summary.json' in proc.stdout
