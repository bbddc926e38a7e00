"""tools/analysis_tools/model_analysis.py on real configs."""
import importlib.util
import json
import os.path as osp

import pytest

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIGS = osp.join(ROOT, 'configs', 'rnnpool_face')


def _tool():
    path = osp.join(ROOT, 'tools', 'analysis_tools', 'model_analysis.py')
    spec = importlib.util.spec_from_file_location('model_analysis', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quant_and_m4_against_the_paper(tmp_path, capsys):
    out = tmp_path / 'analysis.json'
    quant = osp.join(CONFIGS, 'rnnpool-face-quant_1xb32-300e_widerface.py')
    m4 = osp.join(CONFIGS, 'rnnpool-face-m4_1xb32-300e_widerface-qvga-gray.py')
    results = _tool().main([quant, m4, '--json', str(out)])
    printed = capsys.readouterr().out
    assert 'rnnpool-face-quant' in printed and 'rnnpool-face-m4' in printed
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))

    q, m = results
    # Face-Quant at 640 x 480: the paper's 0.07M parameters and 225 KB int8 peak RAM.
    assert q['input_shape'] == [3, 480, 640]
    assert abs(q['params_delta']) < 0.1
    assert q['peak_ram_int8_bytes'] == 225 * 1024 and q['peak_ram_delta'] == 0
    assert q['peak_ram_float32_bytes'] == 4 * 225 * 1024
    # Its MAdds match the paper without the RNNs' recurrent products (see the tool's doc).
    assert abs(q['madds_without_recurrent_delta']) < 0.1
    assert q['madds'] > q['madds_without_recurrent']
    # M4 runs on its own QVGA grey input by default.
    assert m['input_shape'] == [1, 240, 320]
    assert m['paper_params'] is None and m['params_delta'] is None
    assert m['peak_ram_int8_bytes'] == 40 * 30 * (64 + 32)


def test_shape_option_and_bad_config(tmp_path, capsys):
    quant = osp.join(CONFIGS, 'rnnpool-face-quant_1xb32-300e_widerface.py')
    result, = _tool().main([quant, '--shape', '240', '320', '--blocks'])
    assert result['input_shape'] == [3, 240, 320]
    # Half the sides: the block after RNNPool holds a quarter of the values.
    assert result['peak_ram_int8_bytes'] == 40 * 30 * (32 + 16)
    assert 'backbone.rnnpool | rnnpool' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='not found'):
        _tool().main([str(tmp_path / 'missing.py')])
