"""mcu_export.pipeline: the stages one by one on a tiny detector, and export_model's report."""
import numpy as np
import pytest

pytest.importorskip('mmdet', reason='mmdet / mmcv not importable')

from test_torch_export import TINY, _images, _model  # noqa: E402


def test_stages_one_by_one_equal_export_model(tmp_path):
    from mcu_export import pipeline
    model = _model(TINY)
    images = _images(2, (96, 128, 3))
    graph = pipeline.map_model(model, images[0].shape)
    assert graph.kinds() == ['conv', 'conv', 'rnnpool', 'pad', 'mbconv', 'mbconv', 'mbconv',
                             'conv', 'l2norm', 'l2norm', 'ssd_head']
    cal = pipeline.calibrate_model(model, images, log=lambda m: 0)
    assert cal.graph.nodes[0].module is not graph.nodes[0].module  # equalised on a copy
    res = pipeline.quantise(cal, images, 'tiny', dict(score_thr=0.3, iou_thr=0.45),
                            log=lambda m: 0)
    assert res.task == 'detector' and len(res.geometry) == 3
    schedule, total, row_cache = pipeline.plan(res.program, 1 << 20, 4096)
    assert total <= 1 << 20 and row_cache
    with pytest.raises(ValueError, match='over the RAM budget'):
        pipeline.plan(res.program, 4096, 4096)
    report = pipeline.export_model(model, images, tmp_path / 'out', name='tiny', qemu=False,
                                   eval_images=images[:1], log=lambda m: 0)
    assert report.task == 'detector' and report.bit_exact and report.ok
    assert report.data['host_matches_reference'] is True
    assert report.data['float_vs_int']['images'] == 1
    # the stages called by hand give the program export_model planned
    from mcu_export.reference import run_program
    ours, _ = run_program(schedule.program, images[0])
    theirs, _ = run_program(report.schedule.program, images[0])
    assert ours.keys() == theirs.keys()
    assert all(np.array_equal(ours[k], theirs[k]) for k in ours)
    assert (tmp_path / 'out' / 'report.md').read_text().startswith(
        '# MCU export report: tiny (detector)')
