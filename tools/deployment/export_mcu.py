"""Export an RNNPool face detector to a streaming, verified Cortex-M4 C project.

Usage:
    python tools/deployment/export_mcu.py CONFIG CHECKPOINT --out DIR \
        [--calib-images IMG_OR_DIR ...] [--input-size H W] [--channels C] \
        [--ram-budget 262144] [--topk 16] [--no-qemu] \
        [--eval-images IMG_OR_DIR ...] [--num-eval 16] [--parity-score-thr 0.5] \
        [--parity-extra-thr 0.3 ...] [--parity-score-margin 0.1] [--parity-iou 0.9] \
        [--min-parity FRACTION] [--allow-partial-checkpoint]

Writes DIR/ (model.c/.h, runtime/, harness, Makefile, linker script, startup), builds it for the
host and (when arm-none-eabi-gcc and qemu-system-arm exist) for mps2-an386, runs both on the
first calibration image, checks host == integer reference == QEMU bit-exactly, then compares
the float model's detections with the int8 program's on the evaluation images (the host build
is checked against the integer reference on each of them too), and writes DIR/report.md,
DIR/report.json and DIR/ram.png. Tolerance of the comparison: every float detection with score
>= --parity-score-thr should have an int8 detection (score >= thr - margin) with IoU >=
--parity-iou; report.json's ``float_vs_int.iou_ge_thr_fraction`` says how many do, and
--min-parity turns a lower fraction into exit status 1. A model the exporter cannot map is
refused before any work (naming the module and its type), and a checkpoint whose weights do not
fit the config's model in one line (``--allow-partial-checkpoint`` exports it anyway).
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mcu_export.build import build_and_measure, run_host, write_pnm  # noqa: E402
from mcu_export.codegen import tensor_order, write_project  # noqa: E402
from mcu_export.ir import RNNPoolLayer  # noqa: E402
from mcu_export.planner import describe_schedule, plan_schedule, schedule_markdown  # noqa: E402
from mcu_export.reference import camera_grey, run_program  # noqa: E402

TOLERANCE = ('every float detection with score >= {thr} has an int8 detection (score >= '
             '{low:g}) with IoU >= {iou} (greedy one-to-one matching); {frac} of them do')

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm')
CONTEXT_BYTES_PER_CANDIDATE = 12
HARNESS_BYTES = 512  # text line, command line, semihosting blocks (see templates/harness.c)


def dump_bytes(program, tensors, dets) -> bytes:
    """The harness's dump (every tensor, then the detections) as the reference predicts it."""
    expected = b''.join(tensors[n].tobytes() for n in tensor_order(program))
    return expected + np.int32(len(dets)).tobytes() + dets.astype('<i4').tobytes()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export an RNNPool detector to Cortex-M4 C')
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


def build_model(config, checkpoint, allow_partial=False):
    """Builds the detector of a config, refuses one the exporter cannot map, and loads a
    checkpoint whose weights fit it (CPU, eval mode)."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    import mmdet_rnnpool  # noqa: F401  (compat fixes, registers the backbone, head, RNNPool)
    from mmdet_rnnpool.utils.checkpoint import load_checkpoint_checked
    from mmdet_rnnpool.utils.config_utils import load_config
    from mcu_export.torch_export import check_supported

    register_all_modules()
    cfg = load_config(config)
    model = MODELS.build(cfg.model)
    check_supported(model)  # before reading the checkpoint or any image
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
    """Plans the stream cut and the arena; drops the RNNPool row cache if that makes it fit.

    Returns:
        tuple: ``(schedule, static + stack bytes, whether the row cache is on)``.
    """
    rnnpools = [s for s in program.stream.stages if isinstance(s, RNNPoolLayer)]
    for row_cache in (True, False):
        for layer in rnnpools:
            layer.row_cache = row_cache
        schedule = plan_schedule(program, in_place=not args.no_in_place, cut=args.stream_cut)
        try:
            return schedule, check_budget(schedule.plan, schedule.program, args.ram_budget,
                                          args.stack_bytes), row_cache
        except ValueError:
            if not row_cache or not rnnpools:
                raise


def check_budget(plan, program, ram_budget, stack_bytes):
    """Raises with the planner's numbers when the static estimate exceeds the budget.

    Static RAM = arena + model context (candidate list) + the harness's detections and text
    buffers (HARNESS_BYTES; the camera reads rows straight into the model's ring); the linker
    script checks the same sum exactly.
    """
    ctx = program.detect.max_candidates * CONTEXT_BYTES_PER_CANDIDATE + 64
    row_buf = HARNESS_BYTES + 12 * program.detect.max_dets
    total = plan.arena_bytes + ctx + row_buf + stack_bytes
    if total > ram_budget:
        step = int(np.argmax(plan.live_bytes))
        raise ValueError(
            f'model over the RAM budget: needs ~{total} bytes (arena {plan.arena_bytes}, peak '
            f'live {plan.live_bytes[step]} at step {step} "{plan.step_names[step]}"; context '
            f'{ctx}; harness buffers {row_buf}; stack {stack_bytes}) > --ram-budget '
            f'{ram_budget}')
    return total


def parity_lines(fvi: dict) -> list:
    """report.md lines of the float-vs-int8 comparison."""
    first = fvi['first_image']
    lines = [f'Float vs int8 detections on the test image: {first["float_detections"]} float, '
             f'{first["int_detections"]} int8, {first["float_matched_iou_0_9"]} float ones '
             'matched at IoU >= 0.9; head error (mean, int8 steps): '
             f'{first["head_mean_abs_error_in_steps"]}.', '']
    if 'images' not in fvi:
        return lines + ['Float vs int8 detections over images: not measured (--num-eval 0).', '']
    lines += [f'## Float vs int8 detections ({fvi["images"]} images)', '',
              f'Tolerance: {fvi["tolerance"]}.', '',
              '| quantity | value |', '|---|---|',
              f'| float detections (score >= {fvi["score_thr"]}) | {fvi["float_detections"]} |',
              f'| matched at IoU >= {fvi["iou_thr"]} | {fvi["matched"]} '
              f'({fvi["iou_ge_thr_fraction"]}) |',
              f'| matched at IoU >= 0.5 (fraction) | {fvi["iou_ge_0_5_fraction"]} |',
              f'| int8 detections (score >= {fvi["score_thr"]}) | {fvi["int_detections"]} |',
              f'| int8 ones matched by a float one | {fvi["int_matched"]} '
              f'({fvi["int_iou_ge_thr_fraction"]}) |',
              f'| IoU of the float detections\' best partner: mean / median | '
              f'{fvi["mean_iou"]} / {fvi["median_iou"]} |',
              f'| score difference of matched pairs: mean abs / max abs / mean | '
              f'{fvi["score_abs_diff_mean"]} / {fvi["score_abs_diff_max"]} / '
              f'{fvi["score_diff_mean"]} |',
              f'| scores of unmatched float detections (top 10) | '
              f'{fvi["unmatched_float_scores"]} |']
    for thr, p in fvi.get('by_score_thr', {}).items():
        lines.append(f'| float score >= {thr}: detections / matched at IoU >= {p["iou_thr"]} '
                     f'/ at 0.5 / mean, median IoU | {p["float_detections"]} / '
                     f'{p["iou_ge_thr_fraction"]} / {p["iou_ge_0_5_fraction"]} / '
                     f'{p["mean_iou"]}, {p["median_iou"]} |')
    return lines + ['']


def write_report(out: Path, report: dict, plan) -> None:
    (out / 'report.json').write_text(json.dumps(report, indent=2) + '\n')
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(plan.live_bytes)), 4))
        ax.bar(range(len(plan.live_bytes)), [b / 1024 for b in plan.live_bytes],
               label='live tensors + scratch')
        ax.axhline(plan.arena_bytes / 1024, color='r', ls='--', label='planned arena')
        ax.set_xticks(range(len(plan.step_names)))
        ax.set_xticklabels(plan.step_names, rotation=90, fontsize=7)
        ax.set_ylabel('KB')
        ax.set_title('RAM in use, layer by layer (arena)')
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / 'ram.png', dpi=100)
        plt.close(fig)
    except ImportError:
        report['note_png'] = 'matplotlib missing: ram.png not written'

    def fmt(v):
        if v is None:
            return 'not measured'
        return f'{v:,}' if isinstance(v, int) and not isinstance(v, bool) else str(v)

    lines = [f'# MCU export report: {report["model"]}', '',
             f'Input {report["input"]}, RAM budget {report["ram_budget"]:,} bytes.', '',
             '| quantity | measured | planner estimate |', '|---|---|---|',
             f'| flash bytes | {fmt(report["flash_bytes"])} | |',
             f'| static RAM bytes (.data + .bss) | {fmt(report["static_ram_bytes"])} | '
             f'{report["planner"]["static_estimate_bytes"]:,} |',
             f'| stack high-water mark bytes | {fmt(report["stack_bytes"])} | '
             f'reserved {report["stack_reserved_bytes"]:,} |',
             f'| peak RAM bytes | {fmt(report["peak_ram_bytes"])} | '
             f'{report["planner"]["total_estimate_bytes"]:,} (with full stack) |',
             f'| MAdds | {report["madds"]:,} | |',
             f'| QEMU instructions / image | {fmt(report["instructions"])} | |',
             f'| instructions / MAdd | {fmt(report["instructions_per_madd"])} | |',
             f'| host ms / image (incl. process start) | {fmt(report["host_ms_per_image"])} | |',
             '', f'Host == integer reference (all tensors, detections): '
             f'{report["host_matches_reference"]}; QEMU == host: '
             f'{fmt(report["qemu_matches_host"])}. Streamed program == the unstreamed '
             f'program\'s reference (tensors, detections): '
             f'{report["streamed_matches_unstreamed_reference"]}.', '',
             'Host == integer reference on the float-vs-int8 images: '
             f'{fmt(report["host_matches_reference_on_eval_images"])}.', '',
             *parity_lines(report['float_vs_int']),
             *schedule_markdown(report['schedule']),
             '## Arena plan', '', '| step | layer | live bytes |', '|---|---|---|']
    lines += [f'| {i} | {n} | {b:,} |' for i, (n, b) in enumerate(zip(plan.step_names,
                                                                      plan.live_bytes))]
    lines += ['', f'Planned arena: {plan.arena_bytes:,} bytes. ![RAM](ram.png)', '']
    if report.get('note'):
        lines += [f'Note: {report["note"]}', '']
    (out / 'report.md').write_text('\n'.join(lines))


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    print(f'[1/6] building {args.config} and loading {args.checkpoint}')
    model, cfg = build_model(args.config, args.checkpoint, args.allow_partial_checkpoint)
    channels = args.channels or model.backbone.in_channels
    size = tuple(args.input_size) if args.input_size else ((480, 640) if channels == 3 else
                                                          (240, 320))
    test_cfg = cfg.model.get('test_cfg') or {}
    score_thr = args.score_thr if args.score_thr is not None else test_cfg.get('score_thr', 0.3)
    nms = test_cfg.get('nms') or {}
    iou_thr = args.iou_thr if args.iou_thr is not None else nms.get('iou_threshold', 0.45)
    check_input_size(model, size, channels)
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
    from mcu_export.torch_export import (box_iou, export_detector, float_detections,
                                         measure_parity)
    print('[3/6] calibrating and quantising')
    res = export_detector(model, images, name=Path(args.config).stem, score_thr=score_thr,
                          iou_thr=iou_thr, max_candidates=args.max_candidates,
                          max_dets=args.topk)
    # the planner decides how far the row stream goes (streamed layers keep their integer maths:
    # the streamed program computes what res.program computes)
    schedule, total, row_cache = plan_within_budget(res.program, args)
    program, plan = schedule.program, schedule.plan
    if not row_cache:
        print('  RNNPool row cache off: the plan with it is over --ram-budget (same results, '
              'more RNN1 work)')
    print(f'[4/6] planned arena {plan.arena_bytes} bytes, static estimate '
          f'{total - args.stack_bytes} + stack {args.stack_bytes} <= {args.ram_budget}')
    write_project(program, out, ram_budget=args.ram_budget, stack_bytes=args.stack_bytes,
                  plan=plan)
    write_pnm(out / 'image.pnm', res.first_image)
    print('[5/6] integer reference, host build, QEMU run')
    tensors, dets = run_program(program, res.first_image)
    # streaming must not change a value: the program as exported (stream up to RNNPool) gives
    # the same tensors and detections
    base_tensors, base_dets = (run_program(res.program, res.first_image) if schedule.cut else
                               (tensors, dets))
    stream_same = bool(np.array_equal(base_dets, dets) and all(
        np.array_equal(base_tensors[name], t) for name, t in tensors.items()))
    measured = build_and_measure(out, 'image.pnm', qemu=not args.no_qemu)
    raw = (out / 'dump_host.bin').read_bytes()
    host_ok = raw == dump_bytes(program, tensors, dets)
    # float model vs int8 program on the test image
    h, w = size
    fdets = float_detections(res.float_heads, program, res.geometry, w, h, score_thr, iou_thr,
                             args.topk)
    idets = dets[:, :4] / 16.0
    matched = sum(1 for f in fdets if any(box_iou(f[:4], d) >= 0.9 for d in idets))
    head_err = {}
    for name, ref_t in res.float_heads.items():
        q = res.quant[name]
        head_err[name] = round(float(np.abs(q.dequantize(tensors[name]) - ref_t).mean() /
                                     q.scale), 3)
    parity, host_images_ok = None, None
    if eval_images and args.num_eval > 0:
        print(f'[5/6] float vs int8 detections on {len(eval_images)} image(s) (host build '
              'checked against the reference on each)')
        mismatched = []

        def check_host(index, image, tensors_i, dets_i):
            write_pnm(out / 'eval.pnm', image)
            got = run_host(out, 'eval.pnm')
            if got != dump_bytes(program, tensors_i, dets_i):
                mismatched.append(str(eval_files[index]))

        parity = measure_parity(model, res, eval_images, score_thr=args.parity_score_thr,
                                score_margin=args.parity_score_margin,
                                iou_thr=args.parity_iou, on_image=check_host,
                                extra_score_thrs=[t for t in args.parity_extra_thr
                                                  if t != args.parity_score_thr])
        (out / 'eval.pnm').unlink(missing_ok=True)
        frac = parity['iou_ge_thr_fraction']
        parity['tolerance'] = TOLERANCE.format(
            thr=args.parity_score_thr, iou=args.parity_iou,
            low=max(args.parity_score_thr - args.parity_score_margin, 0.0),
            frac='n/a (no float detections)' if frac is None else f'{frac:.1%}')
        parity['min_fraction'] = args.min_parity
        parity['eval_images'] = [str(f) for f in eval_files]
        host_images_ok = dict(images=len(eval_images), mismatched=mismatched)
        print(f'  float detections >= {args.parity_score_thr}: {parity["float_detections"]}, '
              f'matched at IoU >= {args.parity_iou}: {parity["matched"]} ({frac}); host == '
              f'reference on {len(eval_images) - len(mismatched)}/{len(eval_images)} images')
    madds = program.madds
    instr = measured['instructions']
    report = dict(
        model=program.name, input=f'{w}x{h}x{channels}', ram_budget=args.ram_budget,
        rnnpool_row_cache=row_cache,
        flash_bytes=measured['flash_bytes'], static_ram_bytes=measured['static_ram_bytes'],
        stack_bytes=measured['stack_bytes'], stack_reserved_bytes=args.stack_bytes,
        peak_ram_bytes=measured['peak_ram_bytes'], madds=madds, instructions=instr,
        instructions_per_madd=None if instr is None else round(instr / madds, 2),
        host_ms_per_image=round(measured['host_ms_per_image'], 1),
        host_matches_reference=host_ok, qemu_matches_host=measured['qemu_matches_host'],
        streamed_matches_unstreamed_reference=stream_same,
        planner=dict(arena_bytes=plan.arena_bytes, live_bytes=plan.live_bytes,
                     step_names=plan.step_names, static_estimate_bytes=total - args.stack_bytes,
                     total_estimate_bytes=total),
        schedule=describe_schedule(schedule),
        float_vs_int=dict(first_image=dict(float_detections=int(len(fdets)),
                                           int_detections=int(len(dets)),
                                           float_matched_iou_0_9=int(matched),
                                           head_mean_abs_error_in_steps=head_err),
                          **(parity or {})),
        host_matches_reference_on_eval_images=host_images_ok,
        calibration_images=[str(f) for f in files], note=measured['note'])
    write_report(out, report, plan)
    print(f'[6/6] wrote {out / "report.md"}: flash {report["flash_bytes"]}, peak RAM '
          f'{report["peak_ram_bytes"]}, instructions {instr}, host==reference {host_ok}, '
          f'QEMU==host {report["qemu_matches_host"]}')
    if (not host_ok or not stream_same or report['qemu_matches_host'] is False
            or (host_images_ok and host_images_ok['mismatched'])):
        print('error: the builds do not match the integer reference', file=sys.stderr)
        return 1
    if (args.min_parity is not None and parity is not None
            and (parity['iou_ge_thr_fraction'] or 0.0) < args.min_parity):
        print(f'error: float vs int8 parity {parity["iou_ge_thr_fraction"]} < --min-parity '
              f'{args.min_parity}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    from mmdet_rnnpool.utils.cli import run_cli
    sys.exit(run_cli(main))
