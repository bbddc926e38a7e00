"""Integer reference of the Cortex-M4 runtime: computes exactly what the C computes.

Each op kind owns its bit-exact reference (``Op.reference`` in :mod:`mcu_export.ops`, same
rounding by ``+ 2**(r-1) >> r``, same saturation, same order of the order-dependent parts:
candidate list, NMS); this module runs whole programs through them and keeps the historical
per-kernel functions. All arithmetic is in numpy int64, which holds every C intermediate.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .ir import (AddLayer, ConvLayer, DetectLevel, DetectSpec, L2NormLayer, LayerProgram,
                 MBConvLayer, Op, RNNPoolLayer, StreamSpec)
from .ops.intmath import INT32_MAX, INT32_MIN, Q14, requantize
from .ops.rnnpool import PRE_LIMIT, RNN_IN_SCALE, act_table, fastgrnn_sequence

#: ``on_layer(op, inputs, output) -> Optional[np.ndarray]``: called after every op (stream
#: stages included) with its int8 inputs and output; a returned array replaces the output.
LayerCallback = Callable[[Op, Sequence[np.ndarray], np.ndarray], Optional[np.ndarray]]

#: The harness's RGB -> grey for a 1-channel model: OpenCV's integer 0.299 R + 0.587 G +
#: 0.114 B (``cv2.cvtColor`` on uint8: 15-bit weights, rounded; equal to OpenCV 4.11 on all
#: 2^24 colours), i.e. exactly what the training / test pipeline's ``ToGray`` gives on uint8.
GREY_WEIGHTS_Q15 = (9798, 19235, 3735)


def camera_grey(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(h, w, 3)`` -> uint8 grey ``(h, w, 1)``, as the harness converts it."""
    p = np.asarray(rgb).astype(np.uint32)
    r, g, b = GREY_WEIGHTS_Q15
    grey = (r * p[..., 0] + g * p[..., 1] + b * p[..., 2] + (1 << 14)) >> 15
    return grey.astype(np.uint8)[..., None]


# ---- the historical per-kernel entry points (the ops own the code) ----
def conv2d(layer: ConvLayer, x: np.ndarray) -> np.ndarray:
    """Regular or depthwise convolution of a whole map (``rp_conv_s8`` / ``rp_dwconv_s8``)."""
    return layer.reference([x])


def add(layer: AddLayer, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise add with requantisation (``rp_add_s8``)."""
    return layer.reference([a, b])


def l2norm(layer: L2NormLayer, x: np.ndarray) -> np.ndarray:
    """Integer L2 normalisation over channels (``rp_l2norm_s8``)."""
    return layer.reference([x])


def mbconv(layer: MBConvLayer, x: np.ndarray) -> np.ndarray:
    """Inverted residual block (``rp_mbconv_s8``): the four layers on whole maps."""
    return layer.reference([x])


def rnnpool_patches(layer: RNNPoolLayer, patches: np.ndarray) -> np.ndarray:
    """RNNPool over a batch of patches (``rp_rnnpool_s8_patch``)."""
    return layer.reference_patches(patches)


def rnnpool(layer: RNNPoolLayer, x: np.ndarray) -> np.ndarray:
    """RNNPool over a whole map (``rp_rnnpool_s8``)."""
    return layer.reference([x])


def run_layer(layer: Op, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """Runs one op on its input tensors."""
    return layer.reference(inputs)


def _call(op: Op, inputs: Sequence[np.ndarray], on_layer: Optional[LayerCallback]
          ) -> np.ndarray:
    out = op.reference(inputs)
    if on_layer is not None:
        replaced = on_layer(op, inputs, out)
        if replaced is not None:
            out = replaced
    return out


def stream_stage_outputs(spec: StreamSpec, image: np.ndarray,
                         on_layer: Optional[LayerCallback] = None) -> List[Optional[np.ndarray]]:
    """Every stage's output (the padded stage's padded) of the streamed front-end.

    Row by row or map by map, every stage computes the same values (its kernels are the
    whole-map ones applied to row windows), so whole maps specify the stream exactly.
    """
    camera = (image.astype(np.int16) - 128).astype(np.int8)
    maps: List[Optional[np.ndarray]] = []
    for index, (stage, src) in enumerate(zip(spec.stages, spec.srcs)):
        x = camera if src == -1 else maps[src]
        y = _call(stage, [x], on_layer)
        if index == spec.pad_index and (spec.pad_bottom or spec.pad_right):
            y = np.pad(y, ((0, spec.pad_bottom), (0, spec.pad_right), (0, 0)), mode='edge')
        maps.append(y)
    return maps


def stream_outputs(spec: StreamSpec, image: np.ndarray, output: Optional[DetectSpec] = None,
                   on_layer: Optional[LayerCallback] = None):
    """The streamed front-end on a whole image (``rp_stream_run``).

    Args:
        spec (StreamSpec): Front-end.
        image (np.ndarray): uint8 ``(h, w, c)``.
        output (OutputOp, optional): The program's output op, which names what its sinks
            produced. Defaults to None (sink outputs by stage index).
        on_layer (callable, optional): See :func:`run_program`. Defaults to None.

    Returns:
        tuple: the int8 output map and the sinks' outputs (``{tensor: map}`` with ``output``,
        else ``{stage index: map}``).
    """
    maps = stream_stage_outputs(spec, image, on_layer)
    if output is not None:
        sinks = output.streamed_tensors(spec, maps)
    else:
        sinks = {i: maps[i] for i, s in enumerate(spec.stages) if not s.map_output}
    return maps[spec.out_index], sinks


def stream(spec: StreamSpec, image: np.ndarray) -> np.ndarray:
    """The output map of the streamed front-end (see :func:`stream_outputs`)."""
    return stream_stage_outputs(spec, image)[spec.out_index]


def detect_decode(level: DetectLevel, level_index: int, loc: np.ndarray, conf: np.ndarray,
                  score_thr: int, img_w: int, img_h: int) -> List[Tuple[int, ...]]:
    """Decodes one level (``rp_detect_add_rows``); see :meth:`DetectLevel.decode`."""
    return level.decode(level_index, loc, conf, score_thr, img_w, img_h)


def detect(spec: DetectSpec, heads: Dict[str, np.ndarray], img_w: int, img_h: int,
           order: Optional[Sequence[int]] = None) -> np.ndarray:
    """Post-processing (``rp_detect_*``); see :meth:`DetectSpec.run`."""
    return spec.run(heads, img_w, img_h, order)


def run_program(program: LayerProgram, image: np.ndarray,
                on_layer: Optional[LayerCallback] = None
                ) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """Runs a whole layer program on a uint8 image.

    Args:
        program (LayerProgram): The program.
        image (np.ndarray): uint8 ``(h, w, c)`` camera image.
        on_layer (callable, optional): ``on_layer(op, inputs, output)`` after every op (stream
            stages included, the output op not; a detection head sink's output is its loc and
            conf maps concatenated over channels) with the int8 inputs and output; when it
            returns an array, that array replaces the output downstream. Defaults to None.

    Returns:
        tuple: every tensor by name, and the output op's result (detections: int32
        ``(n, 7)``, see :meth:`DetectSpec.run`).
    """
    out_map, streamed = stream_outputs(program.stream, image, program.output, on_layer)
    tensors = {program.stream.output: out_map}
    tensors.update(streamed)
    for step in program.steps:
        tensors[step.output] = _call(step.layer, [tensors[n] for n in step.inputs], on_layer)
    return tensors, program.output.result(program, tensors)


__all__ = [
    'requantize', 'act_table', 'conv2d', 'add', 'l2norm', 'mbconv', 'fastgrnn_sequence',
    'rnnpool_patches', 'rnnpool', 'stream', 'stream_outputs', 'stream_stage_outputs',
    'detect_decode', 'detect', 'run_layer', 'run_program', 'camera_grey', 'LayerCallback',
    'Q14', 'PRE_LIMIT', 'RNN_IN_SCALE', 'INT32_MIN', 'INT32_MAX'
]
