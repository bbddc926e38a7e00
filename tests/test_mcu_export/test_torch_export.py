"""Exporting real mmdet RNNPool detectors (tiny configs, random weights) onto the IR.

Needs mmcv / mmdet; skipped without them. Checks that the mapped program's host build is
bit-exact with the integer reference, and that the int8 program tracks the float model.
"""
import copy
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

mmdet = pytest.importorskip('mmdet', reason='mmdet / mmcv not importable')
pytestmark = pytest.mark.mcu

from mcu_export.codegen import tensor_order, write_project  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
from mcu_export.reference import run_program  # noqa: E402

TINY = dict(
    type='SingleStageDetector',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        type='RNNPoolS3FD', in_channels=3,
        stem=[dict(out_channels=4, kernel_size=3, stride=2), dict(out_channels=4)],
        rnnpool=dict(type='RNNPool', hidden_channels=(4, 4), kernel_size=8, stride=4,
                     nonlinearity='quant'),
        stages=[dict(type='bottleneck', t=2, c=8, n=2, s=1),
                dict(type='bottleneck', t=2, c=16, n=1, s=2)],
        stem_out_indices=(1, ), out_indices=(0, 1),
        source_convs=[dict(out_channels=4, kernel_size=3, stride=2), None, None],
        l2_norm_scales=(10., 8.)),
    bbox_head=dict(
        type='S3FDHead', num_classes=1, in_channels=(4, 8, 16),
        anchor_generator=dict(type='CellCenteredAnchorGenerator', strides=[4, 8, 16],
                              base_sizes=[16, 32, 64], ratios=[1.0], scales=[1.0])),
    test_cfg=dict(nms_pre=1000, nms=dict(type='nms', iou_threshold=0.45), min_bbox_size=0,
                  score_thr=0.02, max_per_img=200))


def _model(cfg):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    import mmdet_rnnpool.models  # noqa: F401
    import mmdet_rnnpool.ops  # noqa: F401
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg))
    # trained-looking BatchNorm statistics, so that folding is exercised
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def _images(n, shape, seed=0):
    rng = np.random.default_rng(seed)
    # smooth random images (blocks of colour), closer to photos than per-pixel noise
    small = rng.integers(0, 256, (n, shape[0] // 8, shape[1] // 8, shape[2]))
    return [np.kron(s, np.ones((8, 8, 1))).astype(np.uint8) for s in small]


@pytest.mark.parametrize('grey', [False, True])
def test_export_tiny_detector(tmp_path, grey):
    from mcu_export.torch_export import export_detector
    cfg = copy.deepcopy(TINY)
    if grey:
        cfg['data_preprocessor'].update(mean=[117.312], std=[1.], bgr_to_rgb=False)
        cfg['backbone']['in_channels'] = 1
        cfg['backbone']['rnnpool']['nonlinearity'] = 'standard'
    model = _model(cfg)
    images = _images(4, (96, 128, 1 if grey else 3))
    res = export_detector(model, images, name='tiny', score_thr=0.3, iou_thr=0.45, log=lambda m: 0)
    program = res.program
    assert [type(s).__name__ for s in program.stream.stages] == [
        'ConvLayer', 'ConvLayer', 'RNNPoolLayer', 'ConvLayer', 'L2NormLayer', 'StreamHead']
    assert program.stream.out_shape == (12, 16, 16)
    tensors, dets = run_program(program, images[0])
    # int8 heads track the float model: mean error of a few quantisation steps
    for name, ref_t in res.float_heads.items():
        q = res.quant[name]
        err = np.abs(q.dequantize(tensors[name]) - ref_t).mean() / q.scale
        assert err < 4.0, f'{name}: mean error {err:.2f} steps'
    # the host build is bit-exact with the reference
    proj = tmp_path / 'proj'
    write_project(program, proj)
    from mcu_export.build import write_pnm
    write_pnm(proj / 'img.pnm', images[0])
    subprocess.run(['make', '-s', '-C', str(proj), 'run-host', 'IMAGE=img.pnm', 'DUMP=d.bin'],
                   check=True, capture_output=True)
    raw = (proj / 'd.bin').read_bytes()
    expected = b''.join(tensors[n].tobytes() for n in tensor_order(program))
    expected += np.int32(len(dets)).tobytes() + dets.astype('<i4').tobytes()
    assert raw == expected


# The release's network details: mean-only normalisation, L2Norm first on the stride-2 stem
# source, then separate strided score / box branch convs (Face-Quant's first head; here also
# on a whole-map level, with two branch convs), ReLU6 (the backbone's default), FastGRNN with
# fixed factors and biases 1 (the cell's default).
RELEASE_TINY = copy.deepcopy(TINY)
RELEASE_TINY['data_preprocessor'].update(mean=[123., 117., 104.], std=[1., 1., 1.])
RELEASE_TINY['backbone'].update(source_convs=None)
RELEASE_TINY['bbox_head'].update(
    branch_convs=[dict(out_channels=8, kernel_size=3, stride=2),
                  [dict(out_channels=6), dict(out_channels=5, kernel_size=1)], None],
    act_cfg=dict(type='ReLU6'))


def test_merged_head_branches_compute_the_same_function():
    from mcu_export.torch_export import merge_head_branches
    model = _model(RELEASE_TINY)
    head = model.bbox_head
    torch.manual_seed(3)
    for level, channels, size in ((0, 4, (24, 32)), (1, 8, (12, 16))):
        x = torch.randn(2, channels, *size) * 3
        merged, loc, conf = merge_head_branches(head, level)
        assert len(merged) == len(head.reg_convs[level]) - 1
        y = x
        with torch.no_grad():
            for m in merged:
                y = m(y)
            torch.testing.assert_close(loc(y), head.reg_convs[level](x), rtol=0, atol=1e-5)
            torch.testing.assert_close(conf(y), head.cls_convs[level](x), rtol=0, atol=1e-5)
    # a level without branch convs keeps its convs as they are
    merged, loc, conf = merge_head_branches(head, 2)
    assert merged == [] and loc is head.reg_convs[2][0] and conf is head.cls_convs[2][0]


def test_export_release_network_details(tmp_path):
    """The release's first head streamed (L2Norm, merged strided branch conv, head), a branched
    whole-map level, ReLU6 clamps, fixed FastGRNN factors: host == reference, heads track."""
    from mcu_export.build import write_pnm
    from mcu_export.ir import ConvLayer, RNNPoolLayer
    from mcu_export.torch_export import export_detector
    model = _model(RELEASE_TINY)
    images = _images(4, (96, 128, 3))
    res = export_detector(model, images, name='tiny', score_thr=0.3, iou_thr=0.45,
                          log=lambda m: 0)
    program = res.program
    stages = program.stream.stages
    assert [type(s).__name__ for s in stages] == [
        'ConvLayer', 'ConvLayer', 'RNNPoolLayer', 'L2NormLayer', 'ConvLayer', 'StreamHead']
    branch = stages[4]
    assert branch.name == 'branch0.0' and branch.in_shape == (48, 64, 4)
    assert branch.out_shape == (24, 32, 16) and branch.stride == (2, 2)
    head = stages[5]
    assert head.loc.in_shape == (24, 32, 16) and head.loc.out_shape == (24, 32, 4)
    # each last conv reads its own half: zero weights on the other
    assert not head.loc.weights[..., 8:].any() and not head.conf.weights[..., :8].any()
    names = [step.layer.name for step in program.steps]
    assert names[names.index('branch1.0'):names.index('branch1.0') + 4] == [
        'branch1.0', 'branch1.1', 'head1_loc', 'head1_conf']
    # ReLU6 is the clamp at the quantised 6 (where the calibrated range reaches it)
    for layer in [branch] + [s.layer for s in program.steps if isinstance(s.layer, ConvLayer)]:
        q = res.quant[layer.name]
        if layer.name.startswith('branch'):
            assert layer.act_min == max(-128, q.zero_point)
            assert layer.act_max == min(127, q.zero_point + round(6.0 / q.scale))
    pool = next(s for s in stages if isinstance(s, RNNPoolLayer))
    for cell in (pool.rnn1, pool.rnn2):
        assert (cell.zeta_q14, cell.nu_q14) == (1 << 14, 0)
    # the mean-only normalisation folds into the first conv; a padded pixel is the mean colour
    assert stages[0].pad_values.tolist() == [123 - 128, 117 - 128, 104 - 128]
    tensors, dets = run_program(program, images[0])
    for name, ref_t in res.float_heads.items():
        q = res.quant[name]
        err = np.abs(q.dequantize(tensors[name]) - ref_t).mean() / q.scale
        assert err < 4.0, f'{name}: mean error {err:.2f} steps'
    proj = tmp_path / 'proj'
    write_project(program, proj)
    write_pnm(proj / 'img.pnm', images[0])
    subprocess.run(['make', '-s', '-C', str(proj), 'run-host', 'IMAGE=img.pnm', 'DUMP=d.bin'],
                   check=True, capture_output=True)
    expected = b''.join(tensors[n].tobytes() for n in tensor_order(program))
    expected += np.int32(len(dets)).tobytes() + dets.astype('<i4').tobytes()
    assert (proj / 'd.bin').read_bytes() == expected


def test_mismatched_head_branches_are_refused():
    from mcu_export.torch_export import export_detector
    cfg = copy.deepcopy(RELEASE_TINY)
    model = _model(cfg)
    model.bbox_head.reg_convs[1] = model.bbox_head.reg_convs[1][1:]
    with pytest.raises(ValueError, match='bbox_head level 1: 1 box-branch convs but 2 '
                       'score-branch convs'):
        export_detector(model, _images(1, (96, 128, 3)), log=lambda m: 0)


def test_camera_grey_is_the_pipelines_grey():
    """The harness's RGB -> grey (reference.camera_grey) is what ToGray gives on uint8."""
    from mcu_export.reference import camera_grey
    from mmdet_rnnpool.datasets.transforms import ToGray
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (512, 512, 3)).astype(np.uint8)
    rgb[0, :8] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255],
                  [123, 117, 104], [1, 2, 3], [254, 1, 128]]
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    expected = ToGray().transform(dict(img=bgr))['img']
    assert np.array_equal(camera_grey(rgb), expected)
    exact = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(camera_grey(rgb)[..., 0] - exact).max() <= 0.51  # 15-bit weights


def test_unsupported_layer_is_named():
    from mcu_export.torch_export import export_detector
    model = _model(TINY)
    model.backbone.stages[0][0].depthwise_conv.activate = torch.nn.GELU()
    model.backbone.stages[0][0].depthwise_conv.with_activation = True
    with pytest.raises(ValueError, match=r'backbone.stages\[0\]\[0\].depthwise_conv: activation '
                       'GELU is not supported'):
        export_detector(model, _images(1, (96, 128, 3)), log=lambda m: 0)


def _cli_inputs(tmp_path):
    from mcu_export.build import write_pnm
    cfg_file = tmp_path / 'tiny.py'
    cfg_file.write_text("custom_imports = dict(imports=['mmdet_rnnpool'], "
                        'allow_failed_imports=False)\n'
                        f'model = {TINY!r}\n')
    ckpt = tmp_path / 'tiny.pth'
    torch.save({'state_dict': _model(TINY).state_dict()}, ckpt)
    calib = tmp_path / 'calib'
    calib.mkdir()
    for i, img in enumerate(_images(3, (96, 128, 3))):
        write_pnm(calib / f'{i}.ppm', img)
    return cfg_file, ckpt, calib


def test_cli_refuses_over_budget_with_planner_numbers(tmp_path, capsys):
    import sys
    sys.path.insert(0, str(ROOT / 'tools' / 'deployment'))
    import export_mcu
    cfg_file, ckpt, calib = _cli_inputs(tmp_path)
    with pytest.raises(ValueError, match=r'over the RAM budget: needs ~\d+ bytes \(arena \d+, '
                       r'peak live \d+ at step \d+ "[^"]+"; .*> --ram-budget 12000'):
        export_mcu.main([str(cfg_file), str(ckpt), '--out', str(tmp_path / 'out'),
                         '--calib-images', str(calib), '--input-size', '96', '128',
                         '--ram-budget', '12000', '--no-qemu'])


def test_cli_exports_and_reports(tmp_path):
    import json
    import sys
    sys.path.insert(0, str(ROOT / 'tools' / 'deployment'))
    import export_mcu
    cfg_file, ckpt, calib = _cli_inputs(tmp_path)
    out = tmp_path / 'out'
    assert export_mcu.main([str(cfg_file), str(ckpt), '--out', str(out), '--calib-images',
                            str(calib), '--input-size', '96', '128', '--no-qemu']) == 0
    report = json.loads((out / 'report.json').read_text())
    assert report['task'] == 'detector'
    for key in ('flash_bytes', 'static_ram_bytes', 'stack_bytes', 'peak_ram_bytes', 'madds',
                'instructions'):
        assert key in report
    assert report['host_matches_reference'] is True
    assert report['instructions'] is None and report['madds'] > 0  # QEMU not run here
    # the parity is also reported at the lower score threshold (--parity-extra-thr 0.3)
    low = report['float_vs_int']['by_score_thr']['0.3']
    assert low['score_thr'] == 0.3 and low['images'] == report['float_vs_int']['images']
    assert (out / 'report.md').exists() and (out / 'ram.png').exists()
    assert report['streamed_matches_unstreamed_reference'] is True
    stages = report['schedule']['stream_stages']
    assert stages[0]['src'] == 'camera' and stages[0]['ring_rows'] == 3
    assert '## Schedule' in (out / 'report.md').read_text()


def readme_ram_kb(model: str) -> float:
    """The peak RAM the README claims for 'Face-Quant' / 'Face-M4' (KB)."""
    text = ' '.join((ROOT / 'README.md').read_text().split())
    match = re.search(model + r' \([^)]*\) (?:runs )?in ([0-9.]+) KB', text)
    assert match, f'README.md states no RAM figure for {model}'
    return float(match.group(1))


@pytest.mark.parametrize('config,size,channels,budget,instr_per_madd,readme_name', [
    # Face-M4 (the smaller one, ~1 min) in the default suite, so that every CI run holds a
    # real-config Cortex-M4 build run in QEMU; Face-Quant with the slow tests.
    pytest.param('configs/rnnpool_face/rnnpool-face-quant_1xb32-300e_widerface.py', (480, 640),
                 3, 130964, 3.5, 'Face-Quant', marks=pytest.mark.slow),
    ('configs/rnnpool_face/rnnpool-face-m4_1xb32-300e_widerface-qvga-gray.py', (240, 320), 1,
     86528, 2.7, 'Face-M4'),
])
def test_real_configs_fit_budget_and_match_in_qemu(tmp_path, config, size, channels, budget,
                                                   instr_per_madd, readme_name):
    """Face-Quant (640x480 RGB) and Face-M4 (320x240 grey), initial weights, the release's
    network details: host == reference == QEMU bit-exactly (and the streamed program == the
    unstreamed reference), measured peak RAM within the targets (127.9 KB / 84.5 KB, given as
    --ram-budget) and within the figure the README states, and QEMU instructions per MAdd
    within issue 13's targets (3.5 / 2.7)."""
    import json
    import sys
    from mcu_export.build import write_pnm
    from mcu_export.ctest import arm_toolchain_missing
    from mmengine.config import Config
    from mmdet.registry import MODELS
    reason = arm_toolchain_missing()
    if reason:
        pytest.skip(reason)
    sys.path.insert(0, str(ROOT / 'tools' / 'deployment'))
    import export_mcu
    _model(TINY)  # registers the modules
    torch.manual_seed(0)
    config = str(ROOT / config)
    model = MODELS.build(Config.fromfile(config).model)
    ckpt = tmp_path / 'init.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    calib = tmp_path / 'calib'
    calib.mkdir()
    for i, img in enumerate(_images(2, size + (channels, ))):
        write_pnm(calib / f'{i}.{"ppm" if channels == 3 else "pgm"}', img)
    out = tmp_path / 'out'
    assert export_mcu.main([config, str(ckpt), '--out', str(out), '--calib-images', str(calib),
                            '--input-size', str(size[0]), str(size[1]), '--ram-budget',
                            str(budget), '--stack-bytes', '2048']) == 0
    report = json.loads((out / 'report.json').read_text())
    assert report['host_matches_reference'] is True and report['qemu_matches_host'] is True
    assert report['peak_ram_bytes'] <= budget
    # the README states KB to one decimal: the measurement must round to at most that figure
    assert round(report['peak_ram_bytes'] / 1024, 1) <= readme_ram_kb(readme_name)
    assert report['streamed_matches_unstreamed_reference'] is True
    assert report['schedule']['cut'] > 0  # blocks run inside the stream
    assert report['madds'] < report['instructions'] <= instr_per_madd * report['madds']
    fvi = report['float_vs_int']['first_image']
    assert max(fvi['head_mean_abs_error_in_steps'].values()) < 4.0


def test_cli_drops_the_rnnpool_row_cache_when_the_budget_needs_it(tmp_path):
    """A budget between the plans with and without the row cache: the export fits by
    dropping the cache (the C's size query follows the layer's row_cache), same results."""
    import argparse
    import json
    import sys
    from mcu_export.ir import RNNPoolLayer
    from mcu_export.torch_export import export_detector
    sys.path.insert(0, str(ROOT / 'tools' / 'deployment'))
    import export_mcu
    res = export_detector(_model(TINY), _images(2, (96, 128, 3)), log=lambda m: 0)
    args = argparse.Namespace(ram_budget=1 << 30, stack_bytes=4096, no_in_place=False,
                              stream_cut=None)
    _, with_cache, on = export_mcu.plan_within_budget(res.program, args)
    layer = next(s for s in res.program.stream.stages if isinstance(s, RNNPoolLayer))
    assert on and layer.row_cache
    args.ram_budget = with_cache - 1
    _, without, on = export_mcu.plan_within_budget(res.program, args)
    assert not on and without <= with_cache - 1
    cfg_file, ckpt, calib = _cli_inputs(tmp_path)
    out = tmp_path / 'out'
    assert export_mcu.main([str(cfg_file), str(ckpt), '--out', str(out), '--calib-images',
                            str(calib), '--input-size', '96', '128', '--no-qemu',
                            '--ram-budget', str(with_cache - 1)]) == 0
    report = json.loads((out / 'report.json').read_text())
    assert report['rnnpool_row_cache'] is False
    assert report['host_matches_reference'] is True
    assert '.row_cache = 0,' in (out / 'model.c').read_text()  # the emitted layer's row_cache
