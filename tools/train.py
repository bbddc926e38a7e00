"""Train a detector or a classifier with MMEngine's Runner, like MMDetection's / MMPretrain's
``tools/train.py``: the Runner builds from the registries of the config's ``default_scope``
(``mmdet`` or ``mmpretrain``) and imports its ``custom_imports`` (``mmdet_rnnpool.cls`` for
the classifiers), so one tool serves both halves.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options key=value ...] [--launcher pytorch]

Importing ``mmdet_rnnpool`` first applies the stack's compatibility fixes (so ``mmdet::`` config
bases resolve and checkpoints reload) and registers this plugin's components.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmdet_rnnpool  # noqa: E402,F401  (compat fixes + registration)
from mmdet_rnnpool.utils.checkpoint import describe_fit, read_checkpoint  # noqa: E402
from mmdet_rnnpool.utils.cli import run_cli  # noqa: E402
from mmdet_rnnpool.utils.config_utils import load_config  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402,F401
from mmengine.runner import Runner  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train an mmdet-rnnpool detector or classifier')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the actual batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in the work dir when '
        'no path is given')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value (e.g. data_root=/data/WIDERFace/)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args) -> Config:
    if not osp.isfile(args.config):
        raise SystemExit(f'error: config file not found: {args.config}')
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise SystemExit('error: --auto-scale-lr needs auto_scale_lr.base_batch_size in '
                             f'{args.config}')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_config(args)
    if cfg.get('resume') and cfg.get('load_from'):
        read_checkpoint(cfg.load_from)  # an unreadable file: one line naming it
    runner = Runner.from_cfg(cfg)
    if cfg.get('load_from') and not cfg.get('resume'):
        # Fine-tuning from another model is legitimate (MMEngine loads what fits); say in one
        # line what was not loaded instead of MMEngine's key lists.
        runner.logger.info(describe_fit(runner.model, cfg.load_from))
    runner.train()


if __name__ == '__main__':
    sys.exit(run_cli(main))
