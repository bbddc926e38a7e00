"""Export an RNNPool face detector or classifier to a streaming, verified Cortex-M4 C project.

Usage:
    python tools/deployment/export_mcu.py CONFIG CHECKPOINT --out DIR \
        [--calib-images IMG_OR_DIR ...] [--input-size H W] [--channels C] \
        [--ram-budget 262144] [--topk 16] [--no-qemu] \
        [--eval-images IMG_OR_DIR ...] [--num-eval 16] [--parity-score-thr 0.5] \
        [--parity-extra-thr 0.3 ...] [--parity-score-margin 0.1] [--parity-iou 0.9] \
        [--min-parity FRACTION] [--allow-partial-checkpoint] [--profile]

Writes DIR/ (model.c/.h, runtime/, harness, Makefile, linker script, startup), builds it for the
host and (when arm-none-eabi-gcc and qemu-system-arm exist) for mps2-an386, runs both on the
first calibration image, checks host == integer reference == QEMU bit-exactly, then compares
the float model's detections with the int8 program's on the evaluation images (the host build
is checked against the integer reference on each of them too), and writes DIR/report.md,
DIR/report.json and DIR/ram.png (with --profile also a table of QEMU instructions per layer /
stream stage, from a second M4 image built with -DRP_PROFILE). Tolerance of the comparison:
every float detection with score >= --parity-score-thr should have an int8 detection (score >=
thr - margin) with IoU >= --parity-iou; report.json's ``float_vs_int.iou_ge_thr_fraction``
says how many do, and --min-parity turns a lower fraction into exit status 1. A model the
exporter cannot map is refused before any work (naming the module and its type), and a
checkpoint whose weights do not fit the config's model in one line
(``--allow-partial-checkpoint`` exports it anyway).

The work is :func:`mcu_export.pipeline.export_model` (map -> calibrate -> quantise -> plan ->
emit -> build -> verify -> report); this tool parses the arguments, loads the model and the
images, calls it and prints.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mcu_export.pipeline import check_budget, dump_bytes, plan  # noqa: E402,F401
from mcu_export.reference import camera_grey  # noqa: E402

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export an RNNPool detector or classifier to Cortex-M4 C')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output project directory')
    parser.add_argument('--calib-images', nargs='+', default=[],
                        help='calibration images or directories (the first is also the test '
                        'image of the host / QEMU runs)')
    parser.add_argument('--num-calib', type=int, default=32, help='calibration images used')
    parser.add_argument('--input-size', nargs=2, type=int, metavar=('H', 'W'),
                        help='model input size (default: 480 640 for 3 channels, 240 320 for 1)')
    parser.add_argument('--channels', type=int, help='input channels (default: the backbone\'s)')
    parser.add_argument('--ram-budget', type=int, default=262144, help='RAM budget in bytes')
    parser.add_argument('--stack-bytes', type=int, default=4096,
                        help='stack reserved in RAM (the measured high-water mark is ~2 KB)')
    parser.add_argument('--topk', type=int, default=16, help='detections out')
    parser.add_argument('--max-candidates', type=int, default=64, help='pre-NMS list size')
    parser.add_argument('--score-thr', type=float, default=None,
                        help='score threshold (default: test_cfg.score_thr, else 0.3)')
    parser.add_argument('--iou-thr', type=float, default=None,
                        help='NMS IoU threshold (default: test_cfg.nms.iou_threshold, else 0.45)')
    parser.add_argument('--no-qemu', action='store_true', help='skip the M4 build and QEMU run')
    parser.add_argument('--profile', action='store_true',
                        help='also build the M4 image with -DRP_PROFILE, run it once in QEMU and '
                        'add instructions per layer / stream stage to report.md / report.json')
    parser.add_argument('--no-in-place', action='store_true',
                        help='plan every inverted-residual output in its own buffer (by default '
                        'a block overwrites its input where the row order proves it safe)')
    parser.add_argument('--stream-cut', type=int, default=None,
                        help='whole-map layers moved into the row stream (default: the planner '
                        'picks the cut with the smallest arena; 0 streams up to RNNPool only)')
    parser.add_argument('--eval-images', nargs='+', default=None,
                        help='images or directories of the float-vs-int8 comparison (default: '
                        'the calibration images; give held-out ones for an honest number)')
    parser.add_argument('--num-eval', type=int, default=16,
                        help='images of the float-vs-int8 comparison (0 skips it)')
    parser.add_argument('--parity-score-thr', type=float, default=0.5,
                        help='float detections from this score must be matched by the int8 '
                        'program')
    parser.add_argument('--parity-extra-thr', nargs='*', type=float, default=[0.3],
                        help='further float score thresholds reported (report.json '
                        'float_vs_int.by_score_thr); weakly trained models have few '
                        'detections >= 0.5')
    parser.add_argument('--parity-score-margin', type=float, default=0.1,
                        help='a partner detection may score this much below the threshold')
    parser.add_argument('--parity-iou', type=float, default=0.9,
                        help='IoU of a matched float / int8 detection pair')
    parser.add_argument('--min-parity', type=float, default=None,
                        help='fail (exit 1) when fewer float detections than this fraction are '
                        'matched (default: report only)')
    parser.add_argument('--allow-partial-checkpoint', action='store_true',
                        help='export a checkpoint whose weights do not all fit the model (by '
                        'default such a checkpoint is refused)')
    return parser.parse_args(argv)


def load_images(paths, size, channels, limit):
    """Calibration images resized to ``size`` (RGB or grey uint8 HWC)."""
    import mmcv
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob('*') if f.suffix.lower() in IMAGE_EXTS)
        elif p.is_file():
            files.append(p)
        else:
            raise ValueError(f'--calib-images: {p} does not exist')
    images = []
    for f in files[:limit]:
        img = mmcv.imread(str(f), flag='color')
        if img is None:
            raise ValueError(f'--calib-images: cannot read {f}')
        img = mmcv.imresize(img, (size[1], size[0]))[..., ::-1]  # BGR -> RGB
        # grey as the test pipeline makes it (resize, then ToGray's weights; the harness's too)
        img = img if channels == 3 else camera_grey(img)
        images.append(np.ascontiguousarray(img))
    return images, files[:limit]


def build_model(config, checkpoint, allow_partial=False, input_shape=None):
    """Builds the model of a config (an mmdet detector, or an mmpretrain classifier), refuses
    one the exporter cannot map or an input size it cannot take (before reading the
    checkpoint), and loads a checkpoint whose weights fit it (CPU, eval mode).

    Args:
        input_shape (callable, optional): ``model -> (h, w, c)`` of the export. Defaults to
            the exporter's default for the model.
    """
    import mmdet_rnnpool  # noqa: F401  (compat fixes, registers the backbone, head, RNNPool)
    from mmdet_rnnpool.utils.checkpoint import load_checkpoint_checked
    from mmdet_rnnpool.utils.config_utils import load_config
    from mcu_export.torch_export import check_supported, default_input_shape

    cfg = load_config(config)
    if cfg.get('default_scope') == 'mmpretrain':
        from mmpretrain.registry import MODELS
        from mmpretrain.utils import register_all_modules
    else:
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    register_all_modules()
    if cfg.get('data_preprocessor') and not cfg.model.get('data_preprocessor'):
        # mmpretrain configs keep it top level; its runner hands it to the model so
        cfg.model.data_preprocessor = cfg.data_preprocessor
    model = MODELS.build(cfg.model).eval()
    shape = input_shape(model) if input_shape else default_input_shape(model)
    if hasattr(model, 'bbox_head'):
        check_input_size(model, shape[:2], shape[2])
    check_supported(model, shape)  # before reading the checkpoint or any image
    load_checkpoint_checked(model, checkpoint, allow_partial=allow_partial)
    return model.eval(), cfg


def check_input_size(model, size, channels):
    """Refuse an input size the model cannot take, or for which every detection level is not
    at least 1 x 2: at 1 x 1 maps the C builds do not match the integer reference (measured on
    Face-Quant: 20x24, 32x32 and 64x64 mismatch, 128x160 and larger match), so the export
    would only end in that mismatch after all its work."""
    import torch
    h, w = size
    try:
        with torch.no_grad():
            maps = model.backbone(torch.zeros(1, channels, h, w))
    except ValueError as err:
        raise ValueError(f'--input-size {h} {w}: the model cannot take a {w}x{h} image '
                         f'({err})') from None
    strides = getattr(model.backbone, 'out_strides', [None] * len(maps))
    for level, (fmap, stride) in enumerate(zip(maps, strides)):
        if fmap.shape[2] * fmap.shape[3] < 2:
            raise ValueError(f'--input-size {h} {w}: detection level {level} (stride {stride}) '
                             f'is {fmap.shape[2]}x{fmap.shape[3]} on a {w}x{h} image; the '
                             'exporter needs every level at least 1x2 (e.g. --input-size 128 '
                             '160 or more; the default is 480 640)')


def plan_within_budget(program, args):
    """The pipeline's plan stage with the CLI's options (see :func:`mcu_export.pipeline.plan`).

    Returns:
        tuple: ``(schedule, static + stack bytes, whether the row cache is on)``.
    """
    return plan(program, args.ram_budget, args.stack_bytes, not args.no_in_place,
                args.stream_cut)


def input_size(args, model):
    """``((h, w), channels)`` of the export: the options, else the model's defaults."""
    if not hasattr(model, 'bbox_head'):  # a classifier (RGB; 224 x 224 unless given)
        channels = args.channels or 3
        return (tuple(args.input_size) if args.input_size else (224, 224)), channels
    channels = args.channels or getattr(model.backbone, 'in_channels', 3)
    if args.input_size:
        return tuple(args.input_size), channels
    return ((480, 640) if channels == 3 else (240, 320)), channels


def main(argv=None):
    from mcu_export.pipeline import export_model
    args = parse_args(argv)
    out = Path(args.out)
    print(f'[1/6] building {args.config} and loading {args.checkpoint}')

    def shape_of(model):
        size, channels = input_size(args, model)
        return size + (channels, )

    model, cfg = build_model(args.config, args.checkpoint, args.allow_partial_checkpoint,
                             shape_of)
    size, channels = input_size(args, model)
    test_cfg = cfg.model.get('test_cfg') or {}
    score_thr = args.score_thr if args.score_thr is not None else test_cfg.get('score_thr', 0.3)
    nms = test_cfg.get('nms') or {}
    iou_thr = args.iou_thr if args.iou_thr is not None else nms.get('iou_threshold', 0.45)
    print(f'[2/6] loading calibration images ({size[1]}x{size[0]}x{channels})')
    images, files = load_images(args.calib_images, size, channels, args.num_calib)
    if not images:
        raise ValueError('--calib-images: no images found (give image files or directories)')
    if args.eval_images is None:
        eval_images, eval_files = images[:args.num_eval], files[:args.num_eval]
    else:
        eval_images, eval_files = load_images(args.eval_images, size, channels, args.num_eval)
        if not eval_images and args.num_eval > 0:
            raise ValueError('--eval-images: no images found (give image files or directories)')
    if args.num_eval <= 0:
        eval_images, eval_files = [], []
    rep = export_model(
        model, images, out, name=Path(args.config).stem, ram_budget=args.ram_budget,
        stack_bytes=args.stack_bytes, score_thr=score_thr, iou_thr=iou_thr,
        max_candidates=args.max_candidates, max_dets=args.topk, in_place=not args.no_in_place,
        stream_cut=args.stream_cut, qemu=not args.no_qemu, eval_images=eval_images,
        eval_files=eval_files, calib_files=files, parity_score_thr=args.parity_score_thr,
        parity_score_margin=args.parity_score_margin, parity_iou=args.parity_iou,
        parity_extra_thrs=args.parity_extra_thr, min_parity=args.min_parity,
        profile=args.profile)
    parity = rep.verification.parity
    if not rep.bit_exact:
        print('error: the builds do not match the integer reference', file=sys.stderr)
        return 1
    prof = rep.data.get('profile')
    if prof is not None and (not prof['matches_host'] or prof['error']):
        print('error: the profile image does not match the host build (or its hooks are '
              'unbalanced)', file=sys.stderr)
        return 1
    # detectors: matched float detections; classifiers: top-1 agreement
    fraction = None if parity is None else parity.get('iou_ge_thr_fraction',
                                                      parity.get('top1_agreement'))
    if args.min_parity is not None and parity is not None and (fraction or 0.0) < args.min_parity:
        print(f'error: float vs int8 parity {fraction} < --min-parity {args.min_parity}',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    from mmdet_rnnpool.utils.cli import run_cli
    sys.exit(run_cli(main))
