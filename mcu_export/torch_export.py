"""Compatibility entry of the detector export (``export_detector`` and the helpers the tools and
tests import); the work is done by :mod:`mcu_export.pipeline` and the modules it calls:

* :mod:`.converters` - the converter registry (module type -> ops) and the traced graph;
* :mod:`.calibrate`, :mod:`.equalize`, :mod:`.bias_correction` - ranges, channel equalisation,
  bias correction on the integer reference;
* :mod:`.parity` - float decoding and float-vs-int8 statistics.

Supported (anything else is refused by type and module path in one line): mmcv ConvModule
(Conv2d + BatchNorm2d + ReLU / ReLU6) and plain Conv2d, regular or depthwise; mmdet and
mmpretrain inverted residual blocks (no SE); RNNPool with FastGRNN cells (no padding, no ceil
mode) and the replicate pad after it; mmdet's L2Norm; SSD / S3FD heads with one anchor per
location and one softmax class (branch convs merged, see
:func:`mcu_export.converters.heads.merge_head_branches`). Quantisation: BatchNorm folded,
weights per output channel, activations per tensor from the min / max over the calibration
images, mean / std normalisation (and BGR order) folded into the first convolution, so the
camera's raw RGB / grey pixels enter the model directly.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from . import pipeline
from .bias_correction import correct_biases
from .calibrate import model_inputs
from .converters.heads import check_head_branches, merge_head_branches
from .converters.layers import quantize_conv, quantize_rnnpool
from .equalize import MAX_EQUALIZE_SCALE
from .equalize import equalize_blocks as _equalize_graph
from .parity import (box_iou, detection_parity, float_detections, float_head_outputs,
                     match_detections, measure_parity)
from .pipeline import ExportResult


def default_input_shape(model: nn.Module) -> Tuple[int, int, int]:
    """The CLI's default camera shape: detectors 480x640 RGB / 240x320 grey, classifiers
    224x224 RGB."""
    if not hasattr(model, 'bbox_head'):  # a classifier: RGB at its 224 x 224 test crop
        return (224, 224, 3)
    c = getattr(getattr(model, 'backbone', None), 'in_channels', 3)
    c = c if isinstance(c, int) else 3
    return (480, 640, c) if c == 3 else (240, 320, c)


def check_supported(model: nn.Module, input_shape: Optional[Tuple[int, int, int]] = None
                    ) -> None:
    """Raise a one-line ``ValueError`` naming the first module (path and type) the exporter
    cannot map, before any calibration work (one forward pass on zeros of ``input_shape``,
    default :func:`default_input_shape`)."""
    pipeline.check_supported(model, input_shape or default_input_shape(model))


def equalize_blocks(model: nn.Module, inputs: torch.Tensor) -> int:
    """Equalises the inverted residual blocks of ``model`` in place (see :mod:`.equalize`).

    Args:
        model (nn.Module): The model (modified in place).
        inputs (torch.Tensor): Normalised calibration inputs ``(n, c, h, w)``.

    Returns:
        int: Number of blocks equalised.
    """
    n, c, h, w = inputs.shape
    graph = pipeline.map_model(model, (h, w, c), torch.zeros(1, c, h, w))
    return _equalize_graph(graph, pipeline.layers_forward(model), inputs)


def _preprocess(model: nn.Module, images: Sequence[np.ndarray]):
    return model_inputs(model, images)


def export_detector(model: nn.Module, images: Sequence[np.ndarray], name: str = 'model',
                    score_thr: float = 0.3, iou_thr: float = 0.45, max_candidates: int = 64,
                    max_dets: int = 16, act_percentile: Optional[float] = None,
                    bias_correction_images: int = 8, equalize: bool = True,
                    log=print) -> ExportResult:
    """Calibrates, quantises and maps a detector onto a :class:`LayerProgram`
    (:func:`mcu_export.pipeline.convert`).

    Args:
        model (nn.Module): An mmdet single-stage detector (eval mode).
        images (Sequence[np.ndarray]): Calibration images, uint8 RGB/grey HWC, model size.
        name (str): Program name. Defaults to 'model'.
        score_thr (float): Score threshold. Defaults to 0.3.
        iou_thr (float): NMS IoU threshold. Defaults to 0.45.
        max_candidates (int): Bounded pre-NMS list size. Defaults to 64.
        max_dets (int): Detections out. Defaults to 16.
        act_percentile (float, optional): Calibrate the inner activations' ranges on this
            per-image percentile instead of min / max (head outputs keep min / max).
            Defaults to None.
        bias_correction_images (int): Calibration images on which each layer's mean
            per-channel output error (integer program vs float model, upstream errors
            included) is measured and cancelled through its int32 bias, layer by layer in
            execution order; 0 disables it. Defaults to 8.
        equalize (bool): Equalise the channel ranges inside inverted residual blocks first
            (:mod:`mcu_export.equalize`, on a copy of the model). Defaults to True.
        log (callable): Progress printer. Defaults to print.

    Returns:
        ExportResult: the program, tensor quantisation, float heads of the first image.
    """
    if pipeline.model_task(model) != 'detector':
        raise ValueError(f'{type(model).__name__}: export_detector needs a detector '
                         '(use mcu_export.pipeline.convert for classifiers)')
    return pipeline.convert(model, images, name=name, score_thr=score_thr, iou_thr=iou_thr,
                            max_candidates=max_candidates, max_dets=max_dets,
                            act_percentile=act_percentile,
                            bias_correction_images=bias_correction_images, equalize=equalize,
                            log=log)


__all__ = ['ExportResult', 'export_detector', 'quantize_conv', 'quantize_rnnpool',
           'float_detections', 'float_head_outputs', 'match_detections', 'detection_parity',
           'measure_parity', 'correct_biases', 'equalize_blocks', 'box_iou', 'check_supported',
           'merge_head_branches', 'check_head_branches', 'MAX_EQUALIZE_SCALE']
