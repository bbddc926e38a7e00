"""tools/train.py, tools/test.py and tools/dist_train.sh end to end, on a tiny mini WIDER FACE
dataset in the official layout, through the same config machinery users run."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(REPO, 'configs', 'rnnpool_face',
                       'rnnpool-face-quant_1xb8-demo_mini-wider.py')

# Small crops and batches so that a CPU iteration takes well under a second.
TINY_CONFIG = """
_base_ = {base!r}
data_root = {root!r}
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='ZoomInRandomCrop', crop_size={crop}, min_scale=0.5),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeToArea', area={crop} * {crop}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size={batch}, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(gt_dir=data_root + 'eval_tools/ground_truth/')
test_evaluator = val_evaluator
train_cfg = dict(max_iters={iters}, val_interval={iters})
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5)]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(by_epoch=False, interval={ckpt}, max_keep_ckpts=3))
log_processor = dict(window_size=1)
randomness = dict(seed=0)
"""


@pytest.fixture(scope='module')
def tiny_wider(tmp_path_factory):
    from mmdet_rnnpool.datasets import MiniWiderConfig, build_mini_wider
    root = str(tmp_path_factory.mktemp('tiny_wider'))
    build_mini_wider(root, seed=1, progress=False,
                     cfg=MiniWiderConfig(num_train=12, num_val=4, min_face=24, max_face=96,
                                         image_width=(160, 200), aspect=(0.75, 0.75),
                                         max_faces_per_image=2, empty_prob=0.0))
    return root + '/'


def write_config(tmp_path, root, iters, ckpt, crop=128, batch=2):
    path = tmp_path / 'tiny.py'
    path.write_text(TINY_CONFIG.format(base=DEMO_CONFIG, root=root, iters=iters, ckpt=ckpt,
                                       crop=crop, batch=batch))
    return str(path)


def run(args, **kwargs):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable] + args, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=1200, **kwargs)


def losses_of(log_text):
    return [float(x) for x in re.findall(r'Iter\(train\).*?\sloss: ([0-9.]+)', log_text)]


def test_train_resume_and_test(tmp_path, tiny_wider):
    config = write_config(tmp_path, tiny_wider, iters=4, ckpt=2)
    work = str(tmp_path / 'work')
    # Interrupted run: stop after 2 of the 4 iterations (max_iters override), keeping iter_2.
    first = run(['tools/train.py', config, '--work-dir', work, '--cfg-options',
                 'train_cfg.max_iters=2', 'train_cfg.val_interval=100'])
    assert first.returncode == 0, first.stderr[-3000:]
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    # --resume picks up iter_2.pth and continues to 4 (this reloads an mmengine checkpoint
    # through torch's safe loader: the compat allow-list is exercised for real).
    second = run(['tools/train.py', config, '--work-dir', work, '--resume'])
    assert second.returncode == 0, second.stderr[-3000:]
    out = second.stdout + second.stderr
    assert 'resumed epoch: 0, iter: 2' in out
    assert re.search(r'Iter\(train\) \[3/4\]', out) and osp.isfile(osp.join(work, 'iter_4.pth'))
    assert not re.search(r'Iter\(train\) \[1/4\]', out)
    # The official WIDER metric through tools/test.py.
    test = run(['tools/test.py', config, osp.join(work, 'iter_4.pth'), '--work-dir',
                str(tmp_path / 'test')])
    assert test.returncode == 0, test.stderr[-3000:]
    for setting in ('easy', 'medium', 'hard', 'easy_le3'):
        assert re.search(rf'widerface/{setting}: [0-9.]+', test.stdout + test.stderr)


def test_cfg_options_data_root_moves_every_path(tmp_path, tiny_wider):
    # The config points at a root that does not exist; --cfg-options data_root=... must move the
    # dataloaders and the evaluator's ground truth with it.
    config = write_config(tmp_path, '/nonexistent/wider/', iters=1, ckpt=1)
    result = run(['tools/train.py', config, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                  f'data_root={tiny_wider}'])
    assert result.returncode == 0, result.stderr[-3000:]
    assert osp.isfile(tmp_path / 'w' / 'iter_1.pth')


def test_bad_config_path_is_one_line(tmp_path):
    result = run(['tools/train.py', str(tmp_path / 'missing.py')])
    assert result.returncode != 0
    assert 'config file not found' in result.stderr and 'Traceback' not in result.stderr


def test_two_process_distributed_training(tmp_path, tiny_wider):
    config = write_config(tmp_path, tiny_wider, iters=2, ckpt=2, batch=2)
    work = str(tmp_path / 'dist')
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work],
        cwd=REPO, env=dict(os.environ, PYTHON=sys.executable, PORT='29561'),
        capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    logs = [osp.join(d, f) for d, _, files in os.walk(work) for f in files if f.endswith('.log')]
    log = open(logs[0]).read()
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    assert re.search(r'Iter\(train\) \[2/2\]', log)
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_training_learns_to_detect_the_faces(tmp_path, tiny_wider):
    """Overfit the 12 training images: the loss falls and the faces are then found."""
    config = write_config(tmp_path, tiny_wider, iters=400, ckpt=400, batch=4)
    work = str(tmp_path / 'learn')
    result = run(['tools/train.py', config, '--work-dir', work, '--cfg-options',
                  'train_cfg.val_interval=1000'])
    assert result.returncode == 0, result.stderr[-3000:]
    losses = losses_of(result.stdout + result.stderr)
    assert len(losses) >= 100
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10

    import numpy as np
    from mmdet.apis import inference_detector, init_detector

    import mmdet_rnnpool  # noqa: F401
    from mmdet_rnnpool.datasets import parse_wider_bbx_gt
    model = init_detector(config, osp.join(work, 'iter_400.pth'), device='cpu')
    records = parse_wider_bbx_gt(osp.join(tiny_wider, 'wider_face_split',
                                          'wider_face_train_bbx_gt.txt'))
    found = total = 0
    for record in records[:6]:
        img = osp.join(tiny_wider, 'WIDER_train', 'images', record.name)
        pred = inference_detector(model, img).pred_instances
        boxes = pred.bboxes[pred.scores > 0.3].numpy()
        for x, y, w, h in record.boxes:
            total += 1
            gt = np.array([x, y, x + w, y + h])
            lt = np.maximum(boxes[:, :2], gt[:2])
            rb = np.minimum(boxes[:, 2:], gt[2:])
            inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
            union = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) + w * h - inter
            found += bool(len(boxes)) and (inter / union).max() >= 0.5
    assert found >= 0.7 * total, f'found {found} of {total} faces'


def test_sigkill_during_a_checkpoint_save_then_resume(tmp_path, tiny_wider):
    """A real training process SIGKILLed while it writes its second checkpoint: the previous
    complete checkpoint stays the one --resume picks, and the resumed run finishes.
    (MMEngine's own hook deletes the old checkpoint first and writes the new one in place.)"""
    import signal
    import time
    from mmdet_rnnpool.utils.checkpoint import read_checkpoint
    config = write_config(tmp_path, tiny_wider, iters=6, ckpt=2)
    killed_config = tmp_path / 'kill_during_save.py'  # the same, importing the helper
    killed_config.write_text(f'_base_ = {config!r}\ncustom_imports = dict(imports='
                             "['mmdet_rnnpool', 'kill_during_save'], allow_failed_imports=False)\n")
    keep = 'default_hooks.checkpoint.max_keep_ckpts=1'  # MMEngine would delete iter_2 first
    work = tmp_path / 'work'
    marker = tmp_path / 'saving'
    env = dict(os.environ, KILL_DURING_SAVE_AT='2', KILL_DURING_SAVE_MARKER=str(marker),
               PYTHONPATH=os.pathsep.join([REPO, osp.dirname(osp.abspath(__file__))]))
    proc = subprocess.Popen(
        [sys.executable, 'tools/train.py', str(killed_config), '--work-dir', str(work),
         '--cfg-options', keep],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 900
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert marker.exists(), f'the save never started:\n{proc.communicate()[0][-3000:]}'
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    latest = (work / 'last_checkpoint').read_text().strip()
    assert osp.basename(latest) == 'iter_2.pth'
    assert read_checkpoint(latest)['meta']['iter'] == 2  # complete and readable
    assert not (work / 'iter_4.pth').exists()  # the half-written one never got the name

    second = run(['tools/train.py', config, '--work-dir', str(work), '--resume', '--cfg-options',
                  keep])
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-3000:]
    assert 'resumed epoch: 0, iter: 2' in out
    assert re.search(r'Iter\(train\) \[6/6\]', out)
    assert read_checkpoint(str(work / 'iter_6.pth'))['meta']['iter'] == 6
    assert not [p for p in os.listdir(work) if p.endswith('.partial')]
    kept = sorted(p for p in os.listdir(work) if p.startswith('iter_') and p.endswith('.pth'))
    assert kept == ['iter_6.pth']
