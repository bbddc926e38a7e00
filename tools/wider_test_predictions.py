"""Predict the WIDER FACE test split and write the official submission files (no AP: the
test split is released without ground truth).

    python tools/wider_test_predictions.py CONFIG CHECKPOINT --out-dir DIR [--tta]
                                           [--work-dir DIR] [--cfg-options key=value ...]

Reads ``<data_root>/wider_face_split/wider_face_test_filelist.txt`` and
``<data_root>/WIDER_test/images/``; writes ``DIR/<event>/<name>.txt`` (name line, count line,
then ``x y w h score`` per box, original-image pixels). ``--tta`` uses the config's multi-scale
protocol (``tta_model`` / ``tta_pipeline``), as ``tools/test.py --tta``.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmdet_rnnpool  # noqa: E402,F401  (compat fixes + registration)
from mmdet_rnnpool.utils.cli import run_cli  # noqa: E402
from mmdet_rnnpool.utils.config_utils import load_config  # noqa: E402
from mmdet_rnnpool.utils.tta import apply_tta  # noqa: E402
from mmdet_rnnpool.utils.wider_test_split import (WIDER_TEST_FILELIST,  # noqa: E402
                                                  WIDER_TEST_IMAGES, use_wider_test_split)
from mmengine.config import DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write WIDER FACE test-split predictions in the official submission layout')
    parser.add_argument('config', help='a WIDER FACE config')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', required=True, help='where <event>/<name>.txt go')
    parser.add_argument('--tta', action='store_true',
                        help="the multi-scale protocol: the config's tta_model + tta_pipeline")
    parser.add_argument('--ann-file', default=WIDER_TEST_FILELIST,
                        help='the file list, relative to data_root')
    parser.add_argument('--img-prefix', default=WIDER_TEST_IMAGES,
                        help='the image folder, relative to data_root')
    parser.add_argument('--work-dir', help='where the logs go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value '
                        '(e.g. data_root=/data/WIDER_FACE/)')
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
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0] + '_wider_test')
    cfg.load_from = args.checkpoint
    use_wider_test_split(cfg, args.out_dir, args.ann_file, args.img_prefix)
    if args.tta:
        apply_tta(cfg, args.config)
    Runner.from_cfg(cfg).test()


if __name__ == '__main__':
    sys.exit(run_cli(main))
