"""Each compatibility fix: it works with mmdet_rnnpool imported, and the same step fails in a
clean interpreter without it (so the fix is still needed and still effective)."""
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn

import mmdet_rnnpool  # noqa: F401  (applies the fixes)
from toy_runner import make_runner

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run_clean(code: str) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter that has NOT imported mmdet_rnnpool."""
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def test_runner_resumes_its_own_checkpoint(tmp_path):
    make_runner(tmp_path, max_epochs=1, resume=False).train()
    checkpoint = tmp_path / 'epoch_1.pth'
    assert checkpoint.is_file()
    runner = make_runner(tmp_path, max_epochs=2, resume=True)
    runner.train()
    assert runner.epoch == 2 and (tmp_path / 'epoch_2.pth').is_file()

    # The same checkpoint is refused by torch's safe loader without the allow-list ...
    result = run_clean(f"""
        import torch
        try:
            torch.load({str(checkpoint)!r}, map_location='cpu')
        except Exception as e:
            print('REFUSED', type(e).__name__)
        """)
    assert 'REFUSED' in result.stdout, result.stdout + result.stderr


def test_safe_loader_still_refuses_arbitrary_globals(tmp_path):
    # The fix allow-lists mmengine's types; it must not open the door to any pickled class.
    path = tmp_path / 'evil.pth'
    torch.save({'obj': subprocess.CompletedProcess(args=[], returncode=0)}, path)
    with pytest.raises(Exception, match='weights_only|Unsupported global'):
        torch.load(path, map_location='cpu')


MMDET_BASE_CONFIG = """
_base_ = 'mmdet::_base_/default_runtime.py'
marker = 1
"""


def test_mmdet_scope_config_without_pkg_resources(tmp_path):
    cfg_file = tmp_path / 'uses_mmdet_base.py'
    cfg_file.write_text(MMDET_BASE_CONFIG)
    code = f"""
        import sys
        sys.modules['pkg_resources'] = None   # as with setuptools >= 82
        {{patch}}
        from mmengine.config import Config
        cfg = Config.fromfile({str(cfg_file)!r})
        print('LOADED', cfg.marker, cfg.default_scope)
        """
    fixed = run_clean(code.replace('{patch}', 'import mmdet_rnnpool'))
    assert 'LOADED 1 mmdet' in fixed.stdout, fixed.stderr[-2000:]
    broken = run_clean(code.replace('{patch}', 'pass'))
    assert 'LOADED' not in broken.stdout
    assert 'pkg_resources' in broken.stderr


SSD_PREDICT = """
import torch
{patch}
from mmengine.config import ConfigDict
from mmdet.models.dense_heads import SSDHead
from mmdet.utils import register_all_modules
register_all_modules()
head = SSDHead(
    num_classes=1, in_channels=(4,), stacked_convs=0, feat_channels=4,
    anchor_generator=dict(type='AnchorGenerator', strides=[8], ratios=[1.0], scales=[1.0],
                          base_sizes=[16]),
    test_cfg=ConfigDict(nms=dict(type='nms', iou_threshold=0.45), min_bbox_size=0,
                        score_thr=0.0, max_per_img=10))
head.eval()
feats = (torch.rand(1, 4, 8, 8),)
from mmdet.structures import DetDataSample
sample = DetDataSample(metainfo=dict(img_shape=(64, 64), scale_factor=(1.0, 1.0)))
results = head.predict(feats, [sample], rescale=False)
print('PREDICTED', len(results[0].bboxes))
"""


def test_ssd_head_predicts():
    fixed = run_clean(SSD_PREDICT.replace('{patch}', 'import mmdet_rnnpool'))
    assert 'PREDICTED' in fixed.stdout, fixed.stderr[-2000:]
    broken = run_clean(SSD_PREDICT.replace('{patch}', ''))
    assert 'PREDICTED' not in broken.stdout
    assert 'loss_cls' in broken.stderr



DIST_SCRIPT = """
import sys
sys.path[:0] = [{repo!r}, {here!r}]
{patch}
from toy_runner import make_runner
runner = make_runner({work_dir!r}, max_epochs=1, resume=False, launcher='pytorch')
runner.train()
print('TRAINED', runner.epoch)
"""


@pytest.mark.parametrize('patched', [True, False])
def test_cpu_distributed_launch(tmp_path, patched):
    script = tmp_path / 'dist_toy.py'
    script.write_text(DIST_SCRIPT.format(
        repo=REPO, here=osp.dirname(osp.abspath(__file__)), work_dir=str(tmp_path / 'work'),
        patch='import mmdet_rnnpool' if patched else ''))
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={29531 + patched}', str(script)],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    if patched:
        assert result.stdout.count('TRAINED 1') == 2, result.stderr[-3000:]
    else:
        assert result.returncode != 0
        assert '_cuda_setDevice' in result.stderr or 'device_ids' in result.stderr


L2NORM_EXPORT = """
    import numpy as np, torch, onnxruntime as ort
    from mmdet.models.necks.ssd_neck import L2Norm
    {patch}
    torch.manual_seed(0)
    l2norm = L2Norm(4, 10.)
    torch.nn.init.constant_(l2norm.weight, 10.)  # mmdet leaves it uninitialised
    model = torch.nn.Sequential(torch.nn.ReLU(), l2norm).eval()
    x = torch.randn(1, 4, 6, 8)
    x[:, :, 0] = -1.0  # a row of all-zero vectors after the ReLU
    torch.onnx.export(model, (x, ), {path!r}, input_names=['x'], opset_version=18,
                      dynamo=True, optimize=True, verbose=False)
    y = ort.InferenceSession({path!r}, providers=['CPUExecutionProvider']).run(
        None, {{'x': x.numpy()}})[0]
    with torch.no_grad():
        ref = model(x).numpy()
    print('NAN', int(np.isnan(y).sum()), 'DIFF', float(np.nanmax(np.abs(y - ref))))
"""


def test_onnx_export_keeps_l2norm_eps(tmp_path):
    """mmdet's L2Norm exported with onnxscript's optimizer: 0 / 0 = NaN on all-zero vectors
    without fix 5 (the optimizer deletes the + 1e-10), finite and equal to PyTorch with it."""
    pytest.importorskip('onnxscript')
    pytest.importorskip('onnxruntime')
    path = str(tmp_path / 'l2norm.onnx')
    broken = run_clean(L2NORM_EXPORT.format(patch='', path=path))
    assert 'NAN' in broken.stdout, broken.stdout + broken.stderr[-2000:]
    assert int(broken.stdout.split()[1]) >= 32  # at least the 8 x 4 values of the zero row
    fixed = run_clean(L2NORM_EXPORT.format(
        patch='from mmdet_rnnpool.utils.compat import apply_onnx_export_patches; '
              'assert apply_onnx_export_patches()', path=path))
    assert 'NAN 0 ' in fixed.stdout, fixed.stdout + fixed.stderr[-2000:]
    assert float(fixed.stdout.split('DIFF')[1]) < 1e-5
