"""The README's main job (`make demo` = tools/demo.py), end to end on a short schedule."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.slow
def test_demo_runs_every_stage(tmp_path):
    work_dir, data_root = tmp_path / 'demo', tmp_path / 'mini_wider'
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'demo.py'), '--work-dir', str(work_dir),
         '--data-root', str(data_root), '--max-iters', '20', '--calib-images', '4',
         '--parity-images', '3'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.load(open(work_dir / 'summary.json'))
    stages = {s['stage']: s for s in summary['stages']}
    assert list(stages) == ['dataset', 'train', 'evaluate', 'draw', 'analyse', 'export']
    for name, stage in stages.items():
        # export may only be skipped for a missing toolchain, never fail
        assert stage['status'] == 'ok', (name, stage['detail'])
    for key in ('easy', 'medium', 'hard'):
        assert 0.0 <= summary[key] <= 1.0
    assert summary['params'] == 70410  # Face-Quant, as model_analysis counts it
    assert summary['madds'] > 0 and summary['flash_bytes'] > 0
    assert summary['c_matches_reference'] is True
    assert 0 < summary['peak_ram_bytes'] <= 256 * 1024
    assert summary['float_vs_int8']['images'] == 3  # held-out validation images
    assert osp.getsize(work_dir / 'astronaut_detections.jpg') > 10000
    assert osp.getsize(work_dir / 'val_detections.jpg') > 10000
    # the table printed at the end names every stage and the summary file
    assert '| export | ok |' in proc.stdout and 'summary.json' in proc.stdout
