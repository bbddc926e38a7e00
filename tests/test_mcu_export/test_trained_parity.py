"""A briefly trained detector, exported: C == integer reference, and int8 == float detections.

Trains Face-Quant's demo config for 80 iterations with ``tools/train.py`` on a tiny
mini WIDER FACE (real LFW faces pasted on real photos), exports it with
``tools/deployment/export_mcu.py`` (host gcc only) and reads the report:

* the host build equals the integer reference bit-exactly on every evaluation image;
* on the held-out images, at least ``MIN_PARITY`` of the float model's detections with score
  >= ``SCORE_THR`` have an int8 detection (score >= ``SCORE_THR - 0.1``) with IoU >= 0.9, and
  ``MIN_PARITY_IOU_0_5`` have one with IoU >= 0.5.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

pytest.importorskip('mmdet', reason='mmdet / mmcv not importable')
pytestmark = pytest.mark.mcu

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(REPO, 'configs', 'rnnpool_face',
                       'rnnpool-face-quant_1xb8-demo_mini-wider.py')
SCORE_THR = 0.3
# Stated tolerance: >= 80 % of the float detections (score >= 0.3) have an int8 twin at
# IoU >= 0.9, >= 85 % one at IoU >= 0.5. Measured with this code (two runs, identical): 51 of 59
# = 86.4 % at IoU >= 0.9, 91.5 % at IoU >= 0.5, median IoU 0.98. The misses are boxes of the
# deepest levels (1 x 2 maps at 144 x 192, anchors far larger than the image, so a small delta
# error moves the clipped box a lot) and near-tied neighbours whose NMS winner flips. Before
# boxes empty after clipping were dropped (C and float decode alike, as mmdet's
# min_bbox_size=0), the same trained model gave 57.3 % / 60.7 %: 30 of its 89 float
# detections were such empty boxes at the image border, which match nothing. On the 100
# mini-WIDER val images at 640 x 480 a model trained 900 iterations reaches 95.8 %
# (score >= 0.5) / 91.0 % (score >= 0.3) at IoU >= 0.9.
MIN_PARITY = 0.8
MIN_PARITY_IOU_0_5 = 0.85
MIN_FLOAT_DETECTIONS = 4  # a model that detects nothing proves nothing

CONFIG = """
_base_ = {base!r}
data_root = {root!r}
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='ZoomInRandomCrop', crop_size=128, min_scale=0.5),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(gt_dir=data_root + 'eval_tools/ground_truth/')
test_evaluator = val_evaluator
train_cfg = dict(max_iters={iters}, val_interval=100000)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5)]
optim_wrapper = dict(optimizer=dict(lr=0.02))
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(by_epoch=False, interval={iters}, max_keep_ckpts=1))
randomness = dict(seed=0)
"""


def _run(args, timeout=1800):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable] + args, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    from mmdet_rnnpool.datasets import MiniWiderConfig, build_mini_wider
    root = str(tmp_path_factory.mktemp('parity_wider')) + '/'
    build_mini_wider(root, seed=3, progress=False,
                     cfg=MiniWiderConfig(num_train=12, num_val=8, min_face=32, max_face=96,
                                         image_width=(160, 200), aspect=(0.75, 0.75),
                                         max_faces_per_image=2, empty_prob=0.0))
    work = tmp_path_factory.mktemp('parity_work')
    iters = 80
    config = work / 'tiny.py'
    config.write_text(CONFIG.format(base=DEMO_CONFIG, root=root, iters=iters))
    result = _run(['tools/train.py', str(config), '--work-dir', str(work)])
    assert result.returncode == 0, result.stderr[-3000:]
    return root, str(config), str(work / f'iter_{iters}.pth')


@pytest.mark.slow
@pytest.mark.timeout(3600)  # training on a shared CPU
def test_trained_model_exports_with_float_parity(trained, tmp_path):
    root, config, checkpoint = trained
    out = tmp_path / 'mcu'
    result = _run([
        'tools/deployment/export_mcu.py', config, checkpoint, '--out', str(out),
        '--input-size', '144', '192', '--calib-images', root + 'WIDER_train/images',
        '--num-calib', '12', '--eval-images', root + 'WIDER_val/images', '--num-eval', '8',
        '--score-thr', str(SCORE_THR), '--parity-score-thr', str(SCORE_THR), '--no-qemu'
    ], timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = json.loads((out / 'report.json').read_text())
    assert report['host_matches_reference'] is True
    assert report['host_matches_reference_on_eval_images'] == dict(images=8, mismatched=[])
    parity = report['float_vs_int']
    assert parity['images'] == 8 and parity['iou_thr'] == 0.9
    assert parity['float_detections'] >= MIN_FLOAT_DETECTIONS, parity
    assert parity['iou_ge_thr_fraction'] >= MIN_PARITY, parity
    assert parity['iou_ge_0_5_fraction'] >= MIN_PARITY_IOU_0_5, parity
    assert 'IoU >= 0.9' in parity['tolerance']
    assert 'Float vs int8 detections' in (out / 'report.md').read_text()


def test_detection_parity_counts_matches_and_misses():
    import numpy as np

    from mcu_export.torch_export import detection_parity
    face = np.array([[10., 10., 50., 60., 0.8], [100., 20., 140., 70., 0.52]])
    near = face + np.array([1., 0., 1., 0., -0.05])  # IoU ~0.95, score lower by 0.05
    far = face + np.array([8., 8., 8., 8., 0.])  # IoU ~0.55
    ok = detection_parity([face], [near], score_thr=0.5)
    assert ok['float_detections'] == 2 and ok['matched'] == 2
    assert ok['iou_ge_thr_fraction'] == 1.0 and ok['int_detections'] == 1  # 0.52 - 0.05 < 0.5
    assert ok['int_matched'] == 1 and abs(ok['score_diff_mean'] + 0.05) < 1e-9
    bad = detection_parity([face], [far], score_thr=0.5)
    assert bad['matched'] == 0 and bad['iou_ge_thr_fraction'] == 0.0
    assert bad['unmatched_float_scores'] == [0.8, 0.52]
    # an int8 detection just under the threshold still matches (score margin), one far under
    # does not; nothing to match gives None, not a fake 100 %
    low = face.copy()
    low[:, 4] = [0.45, 0.3]
    assert detection_parity([face], [low], score_thr=0.5)['matched'] == 1
    assert detection_parity([np.zeros((0, 5))], [face], 0.5)['iou_ge_thr_fraction'] is None
    # one int8 box cannot match two float boxes
    twin = np.array([[10., 10., 50., 60., 0.9], [10., 10., 50., 60., 0.85]])
    assert detection_parity([twin], [twin[:1]], score_thr=0.5)['matched'] == 1
