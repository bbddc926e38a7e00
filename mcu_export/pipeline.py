"""The export pipeline: map -> calibrate -> quantise -> plan -> emit -> build -> verify -> report.

One API for detectors and classifiers::

    from mcu_export.pipeline import export_model
    report = export_model(model, images, 'out/', ram_budget=131072)
    report.ok, report.data['peak_ram_bytes'], report.task     # 'detector' / 'classifier'

Each stage is a function of its own and can be called alone:

* :func:`map_model` - trace the layers-only model into a graph of registered module types
  (:mod:`.converters`); an unsupported module is refused by type and path;
* :func:`calibrate_model` - (equalise a copy of the model, :mod:`.equalize`, then) record the
  activation ranges (:mod:`.calibrate`);
* :func:`quantise` - run the converters into a :class:`LayerProgram` and correct the biases on
  the integer reference (:mod:`.bias_correction`); :func:`convert` runs the three stages above;
* :func:`plan` - the stream cut and the arena within the RAM budget (the RNNPool row cache
  is dropped when only the plan without it fits);
* :func:`emit` - the C project; :func:`build` - host (and QEMU) builds and measurements;
* :func:`verify` - host == integer reference == QEMU, streamed == unstreamed, float vs int8;
* :func:`profile_layers` (``profile=True``) - a second M4 image with ``-DRP_PROFILE`` run once in
  QEMU: instructions per layer / stream stage (:mod:`.profile`);
* :func:`write_report` - ``report.json``, ``report.md``, ``ram.png``.
"""
import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .calibrate import Calibration, calibrate, model_inputs
from .converters import ConvertContext, assemble, find_converter, map_graph, trace_graph
from .converters.graph import ModelGraph
from .ir import LayerProgram
from .quantize import ActQuant

CONTEXT_BYTES_PER_CANDIDATE = 12
HARNESS_BYTES = 512  # text line, command line, semihosting blocks (see templates/harness.c)
TOLERANCE = ('every float detection with score >= {thr} has an int8 detection (score >= '
             '{low:g}) with IoU >= {iou} (greedy one-to-one matching); {frac} of them do')


# --- map ------------------------------------------------------------------------------------

def model_task(model: nn.Module) -> str:
    """``'detector'`` (backbone + bbox_head) or ``'classifier'`` (backbone [+ neck] + head)."""
    if isinstance(getattr(model, 'bbox_head', None), nn.Module):
        return 'detector'
    if isinstance(getattr(model, 'head', None), nn.Module):
        return 'classifier'
    raise ValueError(f'{type(model).__name__}: a single-stage detector (backbone + bbox_head) '
                     'or an image classifier (backbone + head) is needed')


def layers_forward(model: nn.Module) -> Callable[[torch.Tensor], Any]:
    """The layers-only computation: normalised image batch -> raw outputs (detection head
    maps before any post-processing, or classifier logits)."""
    if not isinstance(getattr(model, 'backbone', None), nn.Module):
        raise ValueError(f'{type(model).__name__}: a model with a backbone is needed')
    task = model_task(model)

    def features(x):
        x = model.backbone(x)
        neck = getattr(model, 'neck', None)
        return neck(x) if isinstance(neck, nn.Module) else x

    if task == 'detector':
        head = model.bbox_head
        method = 'forward_layers' if hasattr(head, 'forward_layers') else 'forward'
        # looked up at call time (the tracer wraps the instance's methods)
        return lambda x: getattr(head, method)(features(x))
    return lambda x: model.head(features(x))


def map_model(model: nn.Module, input_shape: Tuple[int, int, int],
              example: Optional[torch.Tensor] = None) -> ModelGraph:
    """Stage *map*: the traced graph of the layers-only model.

    Args:
        model (nn.Module): The model (eval mode).
        input_shape (tuple): ``(h, w, c)`` of the camera images.
        example (torch.Tensor, optional): Input to trace with. Defaults to zeros.

    Raises:
        ValueError: one line naming the first module the exporter cannot map (path, type).
    """
    task = model_task(model)
    h, w, c = input_shape
    # (mmpretrain backbones reuse in_channels as a running width while building)
    in_ch = getattr(model.backbone, 'in_channels', c) if task == 'detector' else c
    if isinstance(in_ch, int) and in_ch != c:
        raise ValueError(f'images have {c} channels, backbone.in_channels is {in_ch}')
    x = torch.zeros(1, c, h, w) if example is None else example
    model.eval()
    graph = trace_graph(model, layers_forward(model), x)
    for node in graph.nodes:
        if -1 in node.inputs and node.kind != 'conv':
            raise ValueError(f'{node.where}: {type(node.module).__name__} reads the image; the '
                             'first layer must be a convolution (the input normalisation is '
                             'folded into it)')
    head = model.bbox_head if task == 'detector' else None
    if head is not None and find_converter(head) is None:
        # its convolutions alone would map, but not the decoding of its outputs
        raise ValueError(f'bbox_head: {type(head).__name__} is not supported (no converter '
                         'registered for it)')
    return graph


def check_supported(model: nn.Module, input_shape: Tuple[int, int, int]) -> ModelGraph:
    """Refuse, in one line, a model the exporter cannot map (before any calibration work)."""
    return map_model(model, input_shape)


# --- calibrate ------------------------------------------------------------------------------

@dataclass
class Calibrated:
    """Stage *calibrate*'s result: the (equalised) model, its graph, the ranges."""

    model: nn.Module
    graph: ModelGraph
    calibration: Calibration
    inputs: torch.Tensor
    transform: tuple
    equalized_blocks: int = 0


def calibrate_model(model: nn.Module, images: Sequence[np.ndarray], equalize: bool = True,
                    act_percentile: Optional[float] = None, keep_maps: int = 8,
                    log=print) -> Calibrated:
    """Stage *calibrate*: (equalise a copy, then) record every tensor's float range.

    Args:
        model (nn.Module): The float model (not modified).
        images (Sequence[np.ndarray]): uint8 RGB / grey HWC calibration images.
        equalize (bool): Equalise inverted residual blocks first (:mod:`.equalize`).
        act_percentile (float, optional): Range percentile of inner tensors.
        keep_maps (int): Images whose float maps are kept (bias correction).
        log (callable): Progress printer.
    """
    from .equalize import equalize_blocks
    model.eval()
    h, w, c = images[0].shape
    x, transform = model_inputs(model, images)
    count = 0
    if equalize:
        # on a copy: the float function is the same, but the caller keeps its weights
        model = copy.deepcopy(model)
        graph = map_model(model, (h, w, c))
        count = equalize_blocks(graph, layers_forward(model), x[:max(keep_maps, 8)])
        log(f'  equalised the channel ranges of {count} inverted residual block(s)')
    else:
        graph = map_model(model, (h, w, c))
    log(f'  calibrating on {len(images)} image(s) of {w}x{h}x{c}')
    cal = calibrate(graph, layers_forward(model), x, act_percentile, keep_maps, log)
    return Calibrated(model, graph, cal, x, transform, count)


# --- quantise -------------------------------------------------------------------------------

@dataclass
class ExportResult:
    """What :func:`convert` (and ``torch_export.export_detector``) returns.

    Args:
        program (LayerProgram): The quantised program.
        quant (dict[str, ActQuant]): Quantisation of every tensor.
        float_heads (dict[str, np.ndarray]): Float output tensors (HWC) of the first image
            (detection head maps, or the logits).
        first_image (np.ndarray): The first calibration image (uint8 HWC, model size).
        geometry (list[dict]): Float anchor / coder parameters of each level (detectors).
        task (str): ``'detector'`` or ``'classifier'``.
        graph (ModelGraph): The traced graph.
    """

    program: LayerProgram
    quant: Dict[str, ActQuant]
    float_heads: Dict[str, np.ndarray]
    first_image: np.ndarray
    geometry: List[dict] = field(default_factory=list)
    task: str = 'detector'
    graph: Optional[ModelGraph] = None


def quantise(cal: Calibrated, images: Sequence[np.ndarray], name: str = 'model',
             options: Optional[dict] = None, bias_correction_images: int = 8,
             log=print) -> ExportResult:
    """Stage *quantise*: converters -> program, then the bias correction on the reference.

    Args:
        cal (Calibrated): Stage *calibrate*'s result.
        images (Sequence[np.ndarray]): The calibration images.
        name (str): Program name.
        options (dict): ``score_thr``, ``iou_thr``, ``max_candidates``, ``max_dets`` (detectors),
            ``class_names`` (classifiers).
        bias_correction_images (int): Images of the bias correction (0: off).
        log (callable): Progress printer.
    """
    from .bias_correction import correct_biases
    from .converters.classifier import classify_output
    quant = dict(cal.calibration.quant)
    ctx = ConvertContext(quant=quant, input_transform=cal.transform, options=dict(options or {}))
    ctx.quant['input'] = ActQuant(1.0, -128)  # pixel - 128, real = pixel
    mapped = map_graph(cal.graph, ctx)
    task = model_task(cal.model)
    output = None
    if task == 'classifier':
        logits = mapped.outputs[-1]
        output = classify_output(logits, cal.graph.find(logits).out_shapes[0][2],
                                 quant[logits], ctx).op
    program = assemble(mapped, name, images[0].shape, output)
    quant.pop('input', None)
    maps = cal.calibration.float_maps[:bias_correction_images]
    if maps and bias_correction_images > 0:
        log(f'  bias correction on {len(maps)} image(s)')
        correct_biases(program, quant, images[:len(maps)], maps)
    return ExportResult(program, quant, cal.calibration.float_outputs, np.asarray(images[0]),
                        list(mapped.extras.get('geometry', [])), task, cal.graph)


def convert(model: nn.Module, images: Sequence[np.ndarray], name: str = 'model',
            score_thr: float = 0.3, iou_thr: float = 0.45, max_candidates: int = 64,
            max_dets: int = 16, act_percentile: Optional[float] = None,
            bias_correction_images: int = 8, equalize: bool = True, class_names=None,
            log=print) -> ExportResult:
    """Stages *map*, *calibrate* and *quantise*: a float model -> its int8 program."""
    model.eval()
    map_model(model, images[0].shape)  # refuse before any calibration work
    head = getattr(model, 'bbox_head', None)
    min_size = (getattr(head, 'test_cfg', None) or {}).get('min_bbox_size', 0) if head else 0
    if min_size is not None and min_size > 0:
        log(f'  note: bbox_head.test_cfg.min_bbox_size={min_size}; the C drops only boxes that '
            'are empty after clipping (min_bbox_size = 0)')
    cal = calibrate_model(model, images, equalize, act_percentile,
                          max(bias_correction_images, 0), log)
    return quantise(cal, images, name, dict(score_thr=score_thr, iou_thr=iou_thr,
                                            max_candidates=max_candidates, max_dets=max_dets,
                                            class_names=class_names),
                    bias_correction_images, log)


# --- plan -----------------------------------------------------------------------------------

def static_extra_bytes(program: LayerProgram) -> Tuple[int, int]:
    """``(model context, harness buffers)`` bytes besides the arena."""
    out = program.output if hasattr(program, 'output') else program.detect
    cands = getattr(out, 'max_candidates', 0)
    dets = getattr(out, 'max_dets', 0)
    return cands * CONTEXT_BYTES_PER_CANDIDATE + 64, HARNESS_BYTES + 12 * dets


def check_budget(plan_, program: LayerProgram, ram_budget: int, stack_bytes: int) -> int:
    """Raises with the planner's numbers when the static estimate exceeds the budget.

    Static RAM = arena + model context (candidate list) + the harness's detections and text
    buffers (HARNESS_BYTES; the camera reads rows straight into the model's ring); the linker
    script checks the same sum exactly.

    Returns:
        int: static estimate + stack.
    """
    ctx, row_buf = static_extra_bytes(program)
    total = plan_.arena_bytes + ctx + row_buf + stack_bytes
    if total > ram_budget:
        step = int(np.argmax(plan_.live_bytes))
        raise ValueError(
            f'model over the RAM budget: needs ~{total} bytes (arena {plan_.arena_bytes}, peak '
            f'live {plan_.live_bytes[step]} at step {step} "{plan_.step_names[step]}"; context '
            f'{ctx}; harness buffers {row_buf}; stack {stack_bytes}) > --ram-budget '
            f'{ram_budget}')
    return total


def plan(program: LayerProgram, ram_budget: int, stack_bytes: int, in_place: bool = True,
         cut: Optional[int] = None):
    """Stage *plan*: the stream cut and the arena; drops the RNNPool row cache if that makes it
    fit.

    Returns:
        tuple: ``(schedule, static + stack bytes, whether the row cache is on)``.
    """
    from .planner import plan_schedule
    rnnpools = [s for s in program.stream.stages if hasattr(s, 'row_cache')]
    for row_cache in (True, False):
        for layer in rnnpools:
            layer.row_cache = row_cache
        schedule = plan_schedule(program, in_place=in_place, cut=cut)
        try:
            return schedule, check_budget(schedule.plan, schedule.program, ram_budget,
                                          stack_bytes), row_cache
        except ValueError:
            if not row_cache or not rnnpools:
                raise


# --- emit, build ----------------------------------------------------------------------------

def emit(schedule, out_dir, first_image: np.ndarray, ram_budget: int, stack_bytes: int) -> None:
    """Stage *emit*: the C project of the planned program (+ the test image)."""
    from .build import write_pnm
    from .codegen import write_project
    out = Path(out_dir)
    write_project(schedule.program, out, ram_budget=ram_budget, stack_bytes=stack_bytes,
                  plan=schedule.plan)
    write_pnm(out / 'image.pnm', first_image)


def build(out_dir, qemu: bool = True) -> dict:
    """Stage *build*: host (and M4 / QEMU) builds run on the test image, measured."""
    from .build import build_and_measure
    return build_and_measure(Path(out_dir), 'image.pnm', qemu=qemu)


def profile_layers(program: LayerProgram, out_dir, unprofiled_instructions: Optional[int],
                   log=print) -> dict:
    """Stage *profile*: the profile image's instructions per layer / stream stage, named and
    checked against the unprofiled run (:func:`mcu_export.profile.build_profile`; plus
    ``matches_host``: the profile image's dump == the host's)."""
    from .build import run_profile
    from .profile import build_profile
    parsed = run_profile(Path(out_dir), 'image.pnm', log=log)
    data = build_profile(program, parsed, unprofiled_instructions)
    data['matches_host'] = parsed['matches_host']
    return data


# --- verify ---------------------------------------------------------------------------------

def dump_bytes(program: LayerProgram, tensors, result) -> bytes:
    """The harness's dump (every tensor, then the output op's result records) as the reference
    predicts it (:func:`mcu_export.codegen.expected_dump`: the output op says how its result is
    dumped, so detectors and classifiers go the same way)."""
    from .codegen import expected_dump
    return expected_dump(program, tensors, result)


@dataclass
class Verification:
    """Stage *verify*'s result."""

    host_ok: bool
    stream_same: bool
    qemu_ok: Optional[bool]
    first_image: dict
    parity: Optional[dict] = None
    host_images: Optional[dict] = None

    @property
    def bit_exact(self) -> bool:
        return (self.host_ok and self.stream_same and self.qemu_ok is not False
                and not (self.host_images and self.host_images['mismatched']))


def verify(model: nn.Module, res: ExportResult, schedule, out_dir, measured: dict,
           eval_images: Sequence[np.ndarray] = (), eval_files: Sequence = (),
           parity_score_thr: float = 0.5, parity_score_margin: float = 0.1,
           parity_iou: float = 0.9, parity_extra_thrs: Sequence[float] = (0.3, ),
           score_thr: float = 0.3, iou_thr: float = 0.45, max_dets: int = 16,
           log=print) -> Verification:
    """Stage *verify*: host == integer reference (== QEMU, from *build*), the streamed program ==
    the unstreamed one, float vs int8 on the test image and on ``eval_images`` (the host build
    checked against the reference on each of them too)."""
    from .build import run_host, write_pnm
    from .parity import box_iou, float_detections, measure_parity
    from .reference import run_program
    out = Path(out_dir)
    program = schedule.program
    tensors, dets = run_program(program, res.first_image)
    # streaming must not change a value: the program as exported gives the same tensors and
    # detections
    base_tensors, base_dets = (run_program(res.program, res.first_image) if schedule.cut else
                               (tensors, dets))
    stream_same = bool(np.array_equal(base_dets, dets) and all(
        np.array_equal(base_tensors[name], t) for name, t in tensors.items()))
    raw = (out / 'dump_host.bin').read_bytes()
    host_ok = raw == dump_bytes(program, tensors, dets)
    h, w, _ = program.stream.image_shape
    head_err = {}
    for name, ref_t in res.float_heads.items():
        q = res.quant[name]
        head_err[name] = round(float(np.abs(q.dequantize(tensors[name]) - ref_t).mean() /
                                     q.scale), 3)
    first = dict(head_mean_abs_error_in_steps=head_err)
    if res.task == 'detector':
        fdets = float_detections(res.float_heads, program, res.geometry, w, h, score_thr,
                                 iou_thr, max_dets)
        idets = dets[:, :4] / 16.0
        matched = sum(1 for f in fdets if any(box_iou(f[:4], d) >= 0.9 for d in idets))
        first = dict(float_detections=int(len(fdets)), int_detections=int(len(dets)),
                     float_matched_iou_0_9=int(matched), **first)
    parity, host_images = None, None
    if eval_images and res.task == 'classifier':
        from .parity import measure_classification_parity
        log(f'[5/6] float vs int8 top-1 on {len(eval_images)} image(s)')
        parity = measure_classification_parity(model, res, eval_images, log=log)
        parity['eval_images'] = [str(f) for f in eval_files]
        log(f'  top-1 agreement {parity["top1_agreement"]} on {parity["images"]} images')
    if eval_images and res.task == 'detector':
        log(f'[5/6] float vs int8 detections on {len(eval_images)} image(s) (host build '
            'checked against the reference on each)')
        mismatched = []

        def check_host(index, image, tensors_i, dets_i):
            write_pnm(out / 'eval.pnm', image)
            got = run_host(out, 'eval.pnm')
            if got != dump_bytes(program, tensors_i, dets_i):
                mismatched.append(str(eval_files[index]) if index < len(eval_files)
                                  else str(index))

        parity = measure_parity(model, res, eval_images, score_thr=parity_score_thr,
                                score_margin=parity_score_margin, iou_thr=parity_iou,
                                on_image=check_host,
                                extra_score_thrs=[t for t in parity_extra_thrs
                                                  if t != parity_score_thr], log=log)
        (out / 'eval.pnm').unlink(missing_ok=True)
        frac = parity['iou_ge_thr_fraction']
        parity['tolerance'] = TOLERANCE.format(
            thr=parity_score_thr, iou=parity_iou,
            low=max(parity_score_thr - parity_score_margin, 0.0),
            frac='n/a (no float detections)' if frac is None else f'{frac:.1%}')
        parity['eval_images'] = [str(f) for f in eval_files]
        host_images = dict(images=len(eval_images), mismatched=mismatched)
        log(f'  float detections >= {parity_score_thr}: {parity["float_detections"]}, '
            f'matched at IoU >= {parity_iou}: {parity["matched"]} ({frac}); host == '
            f'reference on {len(eval_images) - len(mismatched)}/{len(eval_images)} images')
    return Verification(host_ok, stream_same, measured.get('qemu_matches_host'), first, parity,
                        host_images)


# --- report ---------------------------------------------------------------------------------

def parity_lines(fvi: dict) -> list:
    """report.md lines of the float-vs-int8 comparison."""
    first = fvi['first_image']
    if 'float_detections' not in first:  # a classifier
        lines = [f'Float vs int8 on the test image: logit error (mean, int8 steps): '
                 f'{first["head_mean_abs_error_in_steps"]}.', '']
        if 'top1_agreement' in fvi:
            lines += [f'Float vs int8 top-1 agreement on {fvi["images"]} images: '
                      f'{fvi["top1_agreement"]} (disagreeing images: {fvi["disagreements"]}).',
                      '']
        return lines
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


def write_report(out: Path, report: dict, plan_) -> None:
    """Stage *report*: ``report.json``, ``ram.png`` and ``report.md``."""
    from .planner import schedule_markdown
    out = Path(out)
    (out / 'report.json').write_text(json.dumps(report, indent=2) + '\n')
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(plan_.live_bytes)), 4))
        ax.bar(range(len(plan_.live_bytes)), [b / 1024 for b in plan_.live_bytes],
               label='live tensors + scratch')
        ax.axhline(plan_.arena_bytes / 1024, color='r', ls='--', label='planned arena')
        ax.set_xticks(range(len(plan_.step_names)))
        ax.set_xticklabels(plan_.step_names, rotation=90, fontsize=7)
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

    lines = [f'# MCU export report: {report["model"]} ({report.get("task", "detector")})', '',
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
             '', f'Host == integer reference (all tensors, outputs): '
             f'{report["host_matches_reference"]}; QEMU == host: '
             f'{fmt(report["qemu_matches_host"])}. Streamed program == the unstreamed '
             f'program\'s reference (tensors, outputs): '
             f'{report["streamed_matches_unstreamed_reference"]}.', '',
             'Host == integer reference on the float-vs-int8 images: '
             f'{fmt(report["host_matches_reference_on_eval_images"])}.', '',
             *parity_lines(report['float_vs_int']),
             *schedule_markdown(report['schedule']),
             '## Arena plan', '', '| step | layer | live bytes |', '|---|---|---|']
    lines += [f'| {i} | {n} | {b:,} |' for i, (n, b) in enumerate(zip(plan_.step_names,
                                                                      plan_.live_bytes))]
    lines += ['', f'Planned arena: {plan_.arena_bytes:,} bytes. ![RAM](ram.png)', '']
    if report.get('profile'):
        from .profile import profile_markdown
        lines += profile_markdown(report['profile'])
        lines += [f'Profile image\'s outputs == host: {report["profile"]["matches_host"]}.', '']
    if report.get('note'):
        lines += [f'Note: {report["note"]}', '']
    (out / 'report.md').write_text('\n'.join(lines))


@dataclass
class ExportReport:
    """What :func:`export_model` returns.

    Args:
        data (dict): ``report.json``'s content.
        result (ExportResult): The quantised program (before planning) and its calibration.
        schedule: The planner's schedule (``.program`` is the planned program, ``.plan``).
        verification (Verification): The checks.
        out_dir (Path): The project.
    """

    data: dict
    result: ExportResult
    schedule: Any
    verification: Verification
    out_dir: Path

    @property
    def task(self) -> str:
        return self.data['task']

    @property
    def bit_exact(self) -> bool:
        return self.verification.bit_exact

    @property
    def ok(self) -> bool:
        return self.bit_exact


def export_model(model: nn.Module, images: Sequence[np.ndarray], out_dir, name: str = 'model',
                 ram_budget: int = 262144, stack_bytes: int = 4096, score_thr: float = 0.3,
                 iou_thr: float = 0.45, max_candidates: int = 64, max_dets: int = 16,
                 in_place: bool = True, stream_cut: Optional[int] = None, qemu: bool = True,
                 eval_images: Sequence[np.ndarray] = (), eval_files: Sequence = (),
                 calib_files: Sequence = (), parity_score_thr: float = 0.5,
                 parity_score_margin: float = 0.1, parity_iou: float = 0.9,
                 parity_extra_thrs: Sequence[float] = (0.3, ),
                 min_parity: Optional[float] = None, class_names=None, profile: bool = False,
                 log=print) -> ExportReport:
    """The whole pipeline: map -> calibrate -> quantise -> plan -> emit -> build -> verify ->
    report, for a detector or a classifier (``report.task`` says which).

    Args:
        model (nn.Module): The float model (eval mode; not modified).
        images (Sequence[np.ndarray]): Calibration images, uint8 RGB / grey HWC at the model
            size; the first is the test image of the builds.
        out_dir: The project directory.
        name (str): Program name. Defaults to 'model'.
        ram_budget (int): Bytes of RAM (static + stack); over it raises ``ValueError`` with
            the planner's numbers. Defaults to 262144.
        stack_bytes (int): Stack reserved. Defaults to 4096.
        score_thr, iou_thr, max_candidates, max_dets: Detection post-processing.
        in_place (bool): Let blocks overwrite their input where proven safe. Defaults to True.
        stream_cut (int, optional): Force the stream cut. Defaults to the planner's best.
        qemu (bool): Build for the M4 and run in QEMU too. Defaults to True.
        eval_images (Sequence[np.ndarray]): Images of the float-vs-int8 comparison.
        eval_files, calib_files (Sequence): Their file names (for the report).
        parity_*: See :func:`mcu_export.parity.measure_parity`.
        min_parity (float, optional): Recorded in the report (``min_fraction``); the caller
            decides what a lower fraction means.
        class_names (list[str], optional): Classifier labels for the report.
        profile (bool): Also build the profile image (``-DRP_PROFILE``), run it once in QEMU
            and add the per-layer instruction table to the report (``report.json``'s
            ``profile``). Needs ``qemu``. Defaults to False.
        log (callable): Progress printer. Defaults to print.

    Returns:
        ExportReport: the report (also written to ``out_dir``).
    """
    out = Path(out_dir)
    if profile and not qemu:
        raise ValueError('profile=True needs the QEMU run (qemu=True)')
    log('[3/6] calibrating and quantising')
    res = convert(model, images, name=name, score_thr=score_thr, iou_thr=iou_thr,
                  max_candidates=max_candidates, max_dets=max_dets, class_names=class_names,
                  log=log)
    # the planner decides how far the row stream goes (streamed layers keep their integer
    # maths: the streamed program computes what res.program computes)
    schedule, total, row_cache = plan(res.program, ram_budget, stack_bytes, in_place,
                                      stream_cut)
    program, plan_ = schedule.program, schedule.plan
    if not row_cache:
        log('  RNNPool row cache off: the plan with it is over --ram-budget (same results, '
            'more RNN1 work)')
    log(f'[4/6] planned arena {plan_.arena_bytes} bytes, static estimate '
        f'{total - stack_bytes} + stack {stack_bytes} <= {ram_budget}')
    emit(schedule, out, res.first_image, ram_budget, stack_bytes)
    log('[5/6] integer reference, host build, QEMU run')
    measured = build(out, qemu)
    ver = verify(model, res, schedule, out, measured, eval_images, eval_files,
                 parity_score_thr, parity_score_margin, parity_iou, parity_extra_thrs,
                 score_thr, iou_thr, max_dets, log)
    if ver.parity is not None:
        ver.parity['min_fraction'] = min_parity
    from .planner import describe_schedule
    prof = None
    if profile:
        if not qemu or measured['instructions'] is None:
            raise ValueError('profile=True needs the QEMU run (qemu=True and the ARM '
                             f'toolchain: {measured["note"]})')
        log('[5/6] per-layer profile (profile image in QEMU)')
        prof = profile_layers(program, out, measured['instructions'], log=log)
    madds = program.madds
    instr = measured['instructions']
    h, w, c = program.stream.image_shape
    report = dict(
        model=program.name, task=res.task, input=f'{w}x{h}x{c}', ram_budget=ram_budget,
        rnnpool_row_cache=row_cache,
        flash_bytes=measured['flash_bytes'], static_ram_bytes=measured['static_ram_bytes'],
        stack_bytes=measured['stack_bytes'], stack_reserved_bytes=stack_bytes,
        peak_ram_bytes=measured['peak_ram_bytes'], madds=madds, instructions=instr,
        instructions_per_madd=None if instr is None else round(instr / madds, 2),
        host_ms_per_image=round(measured['host_ms_per_image'], 1),
        host_matches_reference=ver.host_ok, qemu_matches_host=measured['qemu_matches_host'],
        streamed_matches_unstreamed_reference=ver.stream_same,
        planner=dict(arena_bytes=plan_.arena_bytes, live_bytes=plan_.live_bytes,
                     step_names=plan_.step_names, static_estimate_bytes=total - stack_bytes,
                     total_estimate_bytes=total),
        schedule=describe_schedule(schedule),
        float_vs_int=dict(first_image=ver.first_image, **(ver.parity or {})),
        host_matches_reference_on_eval_images=ver.host_images,
        calibration_images=[str(f) for f in calib_files], note=measured['note'])
    if prof is not None:
        report['profile'] = prof
    write_report(out, report, plan_)
    log(f'[6/6] wrote {out / "report.md"}: flash {report["flash_bytes"]}, peak RAM '
        f'{report["peak_ram_bytes"]}, instructions {instr}, host==reference {ver.host_ok}, '
        f'QEMU==host {report["qemu_matches_host"]}')
    return ExportReport(report, res, schedule, ver, out)


__all__ = ['model_task', 'layers_forward', 'map_model', 'check_supported', 'Calibrated',
           'calibrate_model', 'ExportResult', 'quantise', 'convert', 'check_budget', 'plan',
           'emit', 'build', 'profile_layers', 'dump_bytes', 'Verification', 'verify',
           'write_report', 'parity_lines', 'ExportReport', 'export_model', 'static_extra_bytes']
