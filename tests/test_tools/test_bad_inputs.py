"""Bad input through the real command-line tools, as a user hits it.

Each case runs a tool in a subprocess and must end with a non-zero exit status, no traceback,
and one error line that names the file, the key or the layer (the corpus of issue 15: wrong,
truncated or code-carrying checkpoints, a file that is not an image, a model the exporter
cannot map, an empty annotation file, a config without a test split, an image size the
exporter cannot take, and the cases that already ended in one line).
"""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FACE = osp.join(REPO, 'configs', 'rnnpool_face')
QUANT = osp.join(FACE, 'rnnpool-face-quant_1xb32-300e_widerface.py')
FACE_C = osp.join(FACE, 'rnnpool-face-c_1xb32-300e_widerface.py')
FACE_M4 = osp.join(FACE, 'rnnpool-face-m4_1xb32-300e_widerface-qvga-gray.py')
RETINANET = osp.join(REPO, 'configs', 'rnnpool_drop_in',
                     'retinanet_r18-rnnpool-stem_fpn_1x_coco.py')
TRACEBACK_ENV = 'MMDET_RNNPOOL_TRACEBACK'


def _tool(*parts):
    return osp.join(REPO, 'tools', *parts)


class _RunsCode:
    """Pickles as a call of ``os.system`` (a harmless command): what a malicious checkpoint
    carries."""

    def __reduce__(self):
        return os.system, ('true', )


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Checkpoints (Face-Quant's initial weights; truncated; carrying code), a text file named
    like an image, an empty annotation file, a real image, a config without a test split."""
    import mmdet_rnnpool  # noqa: F401
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    register_all_modules()
    root = tmp_path_factory.mktemp('bad_inputs')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(QUANT).model)
    ckpt = root / 'face_quant.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': ('face', )}}}, ckpt)
    data = ckpt.read_bytes()
    (root / 'truncated.pth').write_bytes(data[:len(data) // 2])
    torch.save({'state_dict': model.state_dict(), 'meta': _RunsCode()}, root / 'code.pth')
    (root / 'notes.jpg').write_text('these are my notes, not a picture\n')
    (root / 'empty_bbx_gt.txt').write_text('')
    import cv2
    rng = np.random.default_rng(0)
    cv2.imwrite(str(root / 'photo.png'), rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
    (root / 'no_test_split.py').write_text(
        f'_base_ = {QUANT!r}\ntest_dataloader = None\ntest_evaluator = None\ntest_cfg = None\n')
    return {p.name: str(p) for p in root.iterdir()}


def run_tool(args, timeout=600):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop(TRACEBACK_ENV, None)
    return subprocess.run([sys.executable] + [str(a) for a in args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_refusal(proc, *fragments):
    """Non-zero exit, no traceback, one error line holding every fragment."""
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, f'exit 0:\n{output[-3000:]}'
    assert 'Traceback' not in output, output[-3000:]
    errors = [line for line in proc.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1, f'expected one error line, got {errors}\n{output[-3000:]}'
    for fragment in fragments:
        assert fragment in errors[0], f'{fragment!r} not in {errors[0]!r}'
    return errors[0]


def test_checkpoint_of_another_model_is_refused_by_test(files, tmp_path):
    proc = run_tool([_tool('test.py'), FACE_C, files['face_quant.pth'], '--work-dir', tmp_path])
    line = assert_one_line_refusal(proc, files['face_quant.pth'], 'does not fit', 'missing',
                                   'unexpected', '--allow-partial-checkpoint')
    assert 'backbone.' in line  # the first keys are named


def test_checkpoint_of_another_model_is_refused_by_image_demo(files, tmp_path):
    proc = run_tool([_tool('image_demo.py'), files['photo.png'], FACE_C, files['face_quant.pth'],
                     '--out-file', tmp_path / 'out.jpg'])
    assert_one_line_refusal(proc, files['face_quant.pth'], 'does not fit')
    assert not (tmp_path / 'out.jpg').exists()


def test_partial_loading_on_purpose(files, tmp_path):
    """The documented way to draw with a checkpoint that does not fit: a warning, exit 0."""
    proc = run_tool([_tool('image_demo.py'), files['photo.png'], FACE_C, files['face_quant.pth'],
                     '--out-file', tmp_path / 'out.jpg', '--allow-partial-checkpoint'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'does not fit the model' in proc.stderr and (tmp_path / 'out.jpg').exists()


def test_checkpoint_of_another_model_is_refused_by_pytorch2onnx(files, tmp_path):
    proc = run_tool([_tool('deployment', 'pytorch2onnx.py'), FACE_C, files['face_quant.pth'],
                     '--out', tmp_path / 'model.onnx'])
    assert_one_line_refusal(proc, files['face_quant.pth'], 'does not fit', 'mis-shaped')
    assert not (tmp_path / 'model.onnx').exists()


def test_checkpoint_of_another_model_is_refused_by_export_mcu(files, tmp_path):
    proc = run_tool([_tool('deployment', 'export_mcu.py'), FACE_M4, files['face_quant.pth'],
                     '--out', tmp_path / 'mcu', '--calib-images', files['photo.png']])
    assert_one_line_refusal(proc, files['face_quant.pth'], 'does not fit')
    assert not (tmp_path / 'mcu').exists()


def test_truncated_checkpoint(files, tmp_path):
    proc = run_tool([_tool('test.py'), QUANT, files['truncated.pth'], '--work-dir', tmp_path])
    assert_one_line_refusal(proc, files['truncated.pth'], 'unreadable', 'truncated')


def test_checkpoint_carrying_code(files, tmp_path):
    proc = run_tool([_tool('image_demo.py'), files['photo.png'], QUANT, files['code.pth'],
                     '--out-file', tmp_path / 'out.jpg'])
    assert_one_line_refusal(proc, files['code.pth'], 'pickled code', 'system')


def test_training_load_from_truncated_checkpoint(files, tmp_path):
    proc = run_tool([_tool('train.py'), QUANT, '--work-dir', tmp_path, '--cfg-options',
                     f'load_from={files["truncated.pth"]}'])
    assert_one_line_refusal(proc, files['truncated.pth'], 'unreadable')


def test_image_demo_with_a_file_that_is_not_an_image(files, tmp_path):
    proc = run_tool([_tool('image_demo.py'), files['notes.jpg'], QUANT, files['face_quant.pth'],
                     '--out-file', tmp_path / 'out.jpg'])
    assert_one_line_refusal(proc, files['notes.jpg'], 'not an image')


def test_export_of_an_unsupported_model_is_refused_before_any_work(files, tmp_path):
    proc = run_tool([_tool('deployment', 'export_mcu.py'), RETINANET, files['face_quant.pth'],
                     '--out', tmp_path / 'mcu', '--calib-images', files['photo.png']])
    assert_one_line_refusal(proc, 'backbone', 'ResNetRNNPoolStem', 'not supported')
    assert '[2/6]' not in proc.stdout  # refused at the first step
    assert not (tmp_path / 'mcu').exists()


def test_export_with_an_image_size_the_model_cannot_take(files, tmp_path):
    proc = run_tool([_tool('deployment', 'export_mcu.py'), QUANT, files['face_quant.pth'],
                     '--out', tmp_path / 'mcu', '--calib-images', files['photo.png'],
                     '--input-size', '20', '24', '--no-qemu'])
    assert_one_line_refusal(proc, '--input-size 20 24', 'level 3', '1x1')
    assert '[2/6]' not in proc.stdout  # refused before the calibration


def test_empty_annotation_file(files, tmp_path):
    empty = files['empty_bbx_gt.txt']
    proc = run_tool([_tool('test.py'), QUANT, files['face_quant.pth'], '--work-dir', tmp_path,
                     '--cfg-options', f'test_dataloader.dataset.ann_file={empty}'])
    assert_one_line_refusal(proc, empty, 'no image')


def test_config_without_a_test_split(files, tmp_path):
    proc = run_tool([_tool('test.py'), files['no_test_split.py'], files['face_quant.pth'],
                     '--work-dir', tmp_path])
    assert_one_line_refusal(proc, files['no_test_split.py'], 'no test split', 'test_dataloader')


# Cases that already ended in one line before issue 15: they must stay that way.

def test_missing_checkpoint_file(tmp_path):
    missing = str(tmp_path / 'nope.pth')
    proc = run_tool([_tool('deployment', 'export_mcu.py'), QUANT, missing, '--out',
                     tmp_path / 'mcu'])
    assert_one_line_refusal(proc, missing)


def test_bad_config_key(files, tmp_path):
    proc = run_tool([_tool('test.py'), QUANT, files['face_quant.pth'], '--work-dir', tmp_path,
                     '--cfg-options', 'model.backbone.no_such_option=1'])
    assert_one_line_refusal(proc, 'no_such_option')


def test_malformed_annotation_line(files, tmp_path):
    ann = tmp_path / 'bbx_gt.txt'
    ann.write_text('0--Parade/0_Parade_marchingband_1_5.jpg\n1\n10 20 30\n')
    proc = run_tool([_tool('test.py'), QUANT, files['face_quant.pth'], '--work-dir', tmp_path,
                     '--cfg-options', f'test_dataloader.dataset.ann_file={ann}'])
    assert_one_line_refusal(proc, f'{ann}:3', 'expected 10 numbers')
