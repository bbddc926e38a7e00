"""User errors end in one line on stderr; bugs (and the debug switch) keep their traceback."""
import os
import subprocess
import sys

import pytest

from mmdet_rnnpool.utils.cli import TRACEBACK_ENV, one_line, run_cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _raiser(err):
    def main(argv=None):
        raise err
    return main


def test_user_error_is_one_line(capsys, monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    status = run_cli(_raiser(ValueError('a.txt:3: expected 10 numbers,\n  got 9')))
    err = capsys.readouterr().err
    assert status == 2
    assert err.count('\n') == 1
    assert 'ValueError: a.txt:3: expected 10 numbers, | got 9' in err
    assert TRACEBACK_ENV in err


def test_key_error_without_quotes(capsys, monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    assert run_cli(_raiser(KeyError('model.backbone.depth'))) == 2
    assert "KeyError: model.backbone.depth (" in capsys.readouterr().err
    assert one_line(KeyError()) == 'KeyError'


def test_success_and_bugs(monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    assert run_cli(lambda argv: None) == 0
    with pytest.raises(ZeroDivisionError):  # not a user error: the traceback stays
        run_cli(_raiser(ZeroDivisionError('bug')))
    monkeypatch.setenv(TRACEBACK_ENV, '1')
    with pytest.raises(ValueError):
        run_cli(_raiser(ValueError('shown with its traceback')))


def test_train_tool_names_the_missing_annotation_file(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop(TRACEBACK_ENV, None)
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, 'tools', 'train.py'),
         os.path.join(REPO, 'configs', 'rnnpool_face',
                      'rnnpool-face-quant_1xb8-demo_mini-wider.py'),
         '--work-dir', str(tmp_path / 'w'), '--cfg-options',
         f'data_root={tmp_path}/no_such_dataset/'],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert 'Traceback' not in proc.stderr
    assert last.startswith('train.py: error: FileNotFoundError:'), last
    assert 'no_such_dataset/wider_face_split/wider_face_train_bbx_gt.txt' in last
    assert 'data_root' in last


def test_config_key_a_class_does_not_take_is_one_line(capsys, monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    err = TypeError("RNNPoolS3FD.__init__() got an unexpected keyword argument 'no_such'")
    assert run_cli(_raiser(err)) == 2
    assert "no_such' (a config key the class does not take)" in capsys.readouterr().err
    with pytest.raises(TypeError):  # other TypeErrors are bugs: the traceback stays
        run_cli(_raiser(TypeError("unsupported operand type(s) for +: 'int' and 'str'")))
