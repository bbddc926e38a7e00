"""Evaluate a trained checkpoint, like MMDetection's / MMPretrain's ``tools/test.py``.

Detectors and classifiers alike: the Runner builds from the registries of the config's
``default_scope`` (``mmdet`` or ``mmpretrain``) and imports its ``custom_imports``.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl] [--tta]
                         [--cfg-options key=value ...] [--launcher pytorch]
                         [--allow-partial-checkpoint]

``--tta`` tests with the config's ``tta_model`` / ``tta_pipeline`` (for the face configs: the
release's multi-scale WIDER FACE protocol merged by box voting) instead of the single-scale
test pipeline.

A checkpoint whose weights do not fit the config's model (missing, unexpected or mis-shaped keys)
is refused in one line; ``--allow-partial-checkpoint`` tests it anyway.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmdet_rnnpool  # noqa: E402,F401  (compat fixes + registration)
from mmdet_rnnpool.utils.checkpoint import (ALLOW_PARTIAL_FLAG,  # noqa: E402
                                            check_checkpoint_fits)
from mmdet_rnnpool.utils.cli import run_cli  # noqa: E402
from mmdet_rnnpool.utils.config_utils import load_config  # noqa: E402
from mmdet_rnnpool.utils.tta import apply_tta  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402,F401
from mmengine.runner import Runner  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) an mmdet-rnnpool detector or classifier')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation results and logs')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--tta', action='store_true',
                        help="test-time augmentation: the config's tta_model + tta_pipeline")
    parser.add_argument(ALLOW_PARTIAL_FLAG, action='store_true',
                        help='test a checkpoint whose weights do not all fit the model (by '
                        'default such a checkpoint is refused)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise SystemExit(f'error: {what} file not found: {path}')
    cfg = load_config(args.config, args.cfg_options)
    missing = [key for key in ('test_dataloader', 'test_evaluator', 'test_cfg') if not cfg.get(key)]
    if missing:  # MMEngine's Runner.test() would end in a RuntimeError traceback
        raise ValueError(f'{args.config}: no test split to evaluate on ({", ".join(missing)} '
                         'not set)')
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.tta:
        apply_tta(cfg, args.config)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit(f'error: --out must be a .pkl/.pickle file, got {args.out}')
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(cfg.test_evaluator, dict) \
            else list(cfg.test_evaluator)
        # Detection results are dumped by mmdet's dumper, classification by MMEngine's.
        dumper = 'DumpResults' if cfg.get('default_scope') == 'mmpretrain' else 'DumpDetResults'
        cfg.test_evaluator.append(dict(type=dumper, out_file_path=args.out))
    runner = Runner.from_cfg(cfg)
    # MMEngine only warns about a checkpoint of another model and tests random weights.
    check_checkpoint_fits(runner.model, args.checkpoint, args.allow_partial_checkpoint)
    metrics = runner.test()
    return metrics


if __name__ == '__main__':
    sys.exit(run_cli(main))
