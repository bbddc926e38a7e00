"""tools/train.py and tools/test.py on a classifier config (MMPretrain's registries through the
config's default_scope), on a tiny folder in the VWW annotation layout."""
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'rnnpool_cls',
                  'mobilenet-v2-0.35x-rnnpool_8xb32-150e_vww-96px.py')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


@pytest.fixture(scope='module')
def tiny_vww(tmp_path_factory):
    import cv2
    root = tmp_path_factory.mktemp('vww')
    (root / 'meta').mkdir()
    rng = np.random.default_rng(0)
    for split, count in (('train', 8), ('val', 4)):
        lines = []
        for i in range(count):
            label = i % 2
            img = (rng.random((72, 100, 3)) * 80).astype(np.uint8)
            if label:  # a bright block: something to learn, not the point here
                img[20:50, 30:70] = 220
            cv2.imwrite(str(root / f'{split}_{i}.jpg'), img)
            lines.append(f'{split}_{i}.jpg {label}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return str(root) + '/'


def _run(args):
    out = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


@pytest.mark.slow  # three tool runs: ~90 s on the shared 2-core machine
def test_train_resume_and_test_a_classifier(tiny_vww, tmp_path):
    options = [f'data_root={tiny_vww}', 'train_dataloader.batch_size=4',
               'randomness.seed=0', 'default_hooks.logger.interval=1']
    options += [f'{loader}.num_workers=0' for loader in LOADERS]
    options += [f'{loader}.persistent_workers=False' for loader in LOADERS]
    work = str(tmp_path / 'work')
    log = _run(['tools/train.py', CONFIG, '--work-dir', work, '--cfg-options',
                'train_cfg.max_epochs=1', *options])
    assert 'accuracy/top1' in log and osp.isfile(osp.join(work, 'epoch_1.pth'))
    # Resuming reloads the checkpoint under torch's weights_only loader.
    log = _run(['tools/train.py', CONFIG, '--work-dir', work, '--resume', '--cfg-options',
                'train_cfg.max_epochs=2', *options])
    assert 'resumed epoch: 1' in log and osp.isfile(osp.join(work, 'epoch_2.pth'))
    out = str(tmp_path / 'preds.pkl')
    log = _run(['tools/test.py', CONFIG, osp.join(work, 'epoch_2.pth'), '--work-dir', work,
                '--out', out, '--cfg-options', *options])
    assert 'accuracy/top1' in log
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == 4
    assert {int(p['gt_label'][0]) for p in predictions} == {0, 1}
    assert all(np.isfinite(np.asarray(p['pred_score'])).all() for p in predictions)
