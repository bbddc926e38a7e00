"""The Visual Wake Words classifier through the same export command as the detectors.

MobileNetV2-0.35x-RNNPool (the classification issue's VWW config, with and without the
paper's last-layer RNNPool) at 96 x 96 RGB, initial weights: ``tools/deployment/export_mcu.py``
maps it with the converter registry, quantises, plans, emits, builds for the host and the
Cortex-M4 and runs it in QEMU. Host == integer reference == QEMU bit-exactly, the measured peak
RAM (static + stack high-water mark) within issue 13's 16 KB target at 96 x 96, at most 4 QEMU
instructions per MAdd, and the float
vs int8 top-1 agreement reported on held-out images.
"""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
VWW = 'configs/rnnpool_cls/mobilenet-v2-0.35x-rnnpool_8xb32-150e_vww-96px.py'
VWW_LAST = 'configs/rnnpool_cls/mobilenet-v2-0.35x-rnnpool-lastrnnpool_8xb32-150e_vww-224px.py'
RAM_TARGET_96 = 16 * 1024
INSTR_PER_MADD_TARGET = 4.0  # issue 13: QEMU instructions per MAdd


def _images(folder: Path, n: int, seed: int) -> Path:
    from mcu_export.build import write_pnm
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        # smooth random pictures (a low-resolution pattern upsampled), not white noise
        low = rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)
        write_pnm(folder / f'{i}.ppm', np.kron(low, np.ones((8, 8, 1), np.uint8)))
    return folder


@pytest.mark.parametrize('config,neck_kind', [(VWW, 'gap'), (VWW_LAST, 'rnnpool_last')])
def test_vww_classifier_exports_bit_exact_in_qemu_at_96(tmp_path, config, neck_kind):
    from mcu_export.ctest import arm_toolchain_missing
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    reason = arm_toolchain_missing()
    if reason:
        pytest.skip(reason)
    sys.path.insert(0, str(ROOT / 'tools' / 'deployment'))
    import export_mcu
    import mmdet_rnnpool.cls  # noqa: F401  (registers the classifier parts)
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    config = str(ROOT / config)
    model = MODELS.build(Config.fromfile(config).model)
    ckpt = tmp_path / 'init.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    calib = _images(tmp_path / 'calib', 2, seed=0)
    held_out = _images(tmp_path / 'held_out', 3, seed=1)
    out = tmp_path / 'out'
    assert export_mcu.main([config, str(ckpt), '--out', str(out), '--calib-images', str(calib),
                            '--eval-images', str(held_out), '--input-size', '96', '96',
                            '--ram-budget', str(RAM_TARGET_96), '--stack-bytes', '2048']) == 0
    report = json.loads((out / 'report.json').read_text())
    assert report['task'] == 'classifier'
    assert report['host_matches_reference'] is True and report['qemu_matches_host'] is True
    assert report['streamed_matches_unstreamed_reference'] is True
    assert 0 < report['peak_ram_bytes'] <= RAM_TARGET_96
    assert report['instructions'] > report['madds'] > 0
    assert report['instructions'] <= INSTR_PER_MADD_TARGET * report['madds']
    assert report['flash_bytes'] > 0
    parity = report['float_vs_int']
    assert parity['images'] == 3 and 0.0 <= parity['top1_agreement'] <= 1.0
    model_c = (out / 'model.c').read_text()
    assert ('rp_gap_s8' if neck_kind == 'gap' else 'rp_rnnpool_last') in model_c
    assert 'rp_fc_s8' in model_c and 'rp_classify_s8' in model_c
    assert '(classifier)' in (out / 'report.md').read_text()
