"""The layer-program IR of the Cortex-M4 exporter: quantised layers with their shapes.

A :class:`LayerProgram` is what the code generator turns into C and what
:mod:`mcu_export.reference` executes bit-exactly. It has three parts, mirroring the runtime:

1. a streamed front-end (:class:`StreamSpec`): convolutions, at most one RNNPool, L2Norms,
   inverted residual blocks and detection heads run row by row over the camera image on row
   rings, producing one whole map (:func:`mcu_export.planner.plan_schedule` decides how far);
2. ``layers``: whole-map layers in execution order, each reading and writing named tensors that
   the memory planner places in one arena;
3. ``detect``: SSD post-processing levels that consume (loc, conf) head tensors.

Every array is already quantised (int8 weights, int32 biases, int32 multipliers, int8 right
shifts); see :mod:`mcu_export.quantize` for how float models get there.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

Shape = Tuple[int, int, int]  # (h, w, c)


@dataclass
class ConvLayer:
    """Regular (``depthwise=False``) or depthwise int8 convolution.

    Args:
        name (str): Layer name (used in errors and generated identifiers).
        in_shape (tuple): Input ``(h, w, c)``.
        out_shape (tuple): Output ``(h, w, c)``.
        weights (np.ndarray): int8 ``[co, kh, kw, ci]`` (regular) or ``[kh, kw, c]`` (depthwise).
        bias (np.ndarray, optional): int32 ``[co]``.
        multiplier (np.ndarray): int32 ``[co]`` requantisation multipliers.
        rshift (np.ndarray): int8 ``[co]`` right shifts.
        stride (tuple): ``(sh, sw)``. Defaults to (1, 1).
        pad (tuple): Leading padding ``(top, left)``. Defaults to (0, 0).
        input_offset (int): Minus the input zero point. Defaults to 0.
        output_offset (int): Output zero point. Defaults to 0.
        act_min (int): Lower output clamp. Defaults to -128.
        act_max (int): Upper output clamp. Defaults to 127.
        pad_values (np.ndarray, optional): int8 ``[ci]`` value of padded inputs (None: the input
            zero point). Defaults to None.
        depthwise (bool): Depthwise convolution. Defaults to False.
    """

    name: str
    in_shape: Shape
    out_shape: Shape
    weights: np.ndarray
    bias: Optional[np.ndarray]
    multiplier: np.ndarray
    rshift: np.ndarray
    stride: Tuple[int, int] = (1, 1)
    pad: Tuple[int, int] = (0, 0)
    input_offset: int = 0
    output_offset: int = 0
    act_min: int = -128
    act_max: int = 127
    pad_values: Optional[np.ndarray] = None
    depthwise: bool = False

    @property
    def kernel(self) -> Tuple[int, int]:
        """Kernel ``(kh, kw)``."""
        if self.depthwise:
            return int(self.weights.shape[0]), int(self.weights.shape[1])
        return int(self.weights.shape[1]), int(self.weights.shape[2])

    @property
    def is_pointwise(self) -> bool:
        """True for a 1x1, stride-1, unpadded regular convolution."""
        return (not self.depthwise and self.kernel == (1, 1) and tuple(self.stride) == (1, 1)
                and tuple(self.pad) == (0, 0))

    @property
    def madds(self) -> int:
        """Multiply-accumulates of one run."""
        kh, kw = self.kernel
        oh, ow, oc = self.out_shape
        per_out = kh * kw * (1 if self.depthwise else self.in_shape[2])
        return oh * ow * oc * per_out


@dataclass
class AddLayer:
    """Element-wise add with requantisation (see ``rp_add_layer``).

    Args:
        name (str): Layer name.
        shape (tuple): ``(h, w, c)`` of both inputs and the output.
        input1_offset (int): Minus the first input's zero point.
        input2_offset (int): Minus the second input's zero point.
        input1_multiplier (int): First input's multiplier.
        input1_rshift (int): First input's right shift.
        input2_multiplier (int): Second input's multiplier.
        input2_rshift (int): Second input's right shift.
        output_multiplier (int): Output multiplier.
        output_rshift (int): Output right shift.
        output_offset (int): Output zero point.
        left_shift (int): Headroom shift. Defaults to 20.
        act_min (int): Lower clamp. Defaults to -128.
        act_max (int): Upper clamp. Defaults to 127.
    """

    name: str
    shape: Shape
    input1_offset: int
    input2_offset: int
    input1_multiplier: int
    input1_rshift: int
    input2_multiplier: int
    input2_rshift: int
    output_multiplier: int
    output_rshift: int
    output_offset: int
    left_shift: int = 20
    act_min: int = -128
    act_max: int = 127


@dataclass
class L2NormLayer:
    """Integer L2 normalisation over channels (see ``rp_l2norm.c``).

    Args:
        name (str): Layer name.
        shape (tuple): ``(h, w, c)``.
        input_offset (int): Minus the input zero point.
        output_offset (int): Output zero point.
        multiplier (np.ndarray): int32 ``[c]``: ``weight_c / (out_scale * 2**22)``.
        rshift (np.ndarray): int8 ``[c]``.
    """

    name: str
    shape: Shape
    input_offset: int
    output_offset: int
    multiplier: np.ndarray
    rshift: np.ndarray


@dataclass
class MBConvLayer:
    """Inverted residual block run row by row (expand 1x1 -> depthwise -> project 1x1 [+ add]).

    Args:
        name (str): Layer name.
        expand (ConvLayer, optional): 1x1 expansion or None.
        depthwise (ConvLayer): Depthwise convolution.
        project (ConvLayer): 1x1 projection.
        residual (AddLayer, optional): Residual add (input + projection) or None.
    """

    name: str
    expand: Optional[ConvLayer]
    depthwise: ConvLayer
    project: ConvLayer
    residual: Optional[AddLayer] = None

    @property
    def in_shape(self) -> Shape:
        """Input ``(h, w, c)``."""
        return (self.expand or self.depthwise).in_shape

    @property
    def out_shape(self) -> Shape:
        """Output ``(h, w, c)``."""
        return self.project.out_shape

    @property
    def madds(self) -> int:
        """Multiply-accumulates of one run."""
        return sum(c.madds for c in (self.expand, self.depthwise, self.project) if c is not None)

    @property
    def scratch_bytes(self) -> int:
        """Scratch the runtime needs (``rp_mbconv_get_buffer_size``)."""
        dw = self.depthwise
        size = 0
        if self.expand is not None:
            size += align4(dw.kernel[0] * dw.in_shape[1] * dw.in_shape[2])
        size += align4(dw.out_shape[1] * dw.out_shape[2])
        if self.residual is not None:
            size += align4(self.project.out_shape[1] * self.project.out_shape[2])
        return size


@dataclass
class FastGRNNCell:
    """Fixed-point FastGRNN cell (int16 Q14 state; see ``rp_rnnpool.c``).

    Args:
        w (np.ndarray): int8 ``[h, i]``.
        w_multiplier (np.ndarray): int32 ``[h]`` (W accumulator -> Q14; RNN1's inputs are
            ``(q - zp) * 64``, so its scale is ``w_scale * in_scale * 2**14 / 64``).
        w_rshift (np.ndarray): int8 ``[h]``.
        u (np.ndarray): int8 ``[h, h]``.
        u_multiplier (np.ndarray): int32 ``[h]`` (U accumulator -> Q14).
        u_rshift (np.ndarray): int8 ``[h]``.
        bias_gate (np.ndarray): int32 ``[h]`` Q14.
        bias_update (np.ndarray): int32 ``[h]`` Q14.
        zeta_q14 (int): ``sigmoid(zeta)`` in Q14.
        nu_q14 (int): ``sigmoid(nu)`` in Q14.
        sigmoid_table (np.ndarray, optional): int16 ``[513]`` Q14 sigmoid samples on [-8, 8]
            (None: quantSigmoid). Defaults to None.
        tanh_table (np.ndarray, optional): int16 ``[513]`` Q14 tanh samples (None:
            quantTanh). Defaults to None.
    """

    w: np.ndarray
    w_multiplier: np.ndarray
    w_rshift: np.ndarray
    u: np.ndarray
    u_multiplier: np.ndarray
    u_rshift: np.ndarray
    bias_gate: np.ndarray
    bias_update: np.ndarray
    zeta_q14: int
    nu_q14: int
    sigmoid_table: Optional[np.ndarray] = None
    tanh_table: Optional[np.ndarray] = None

    @property
    def input_size(self) -> int:
        """Input features."""
        return int(self.w.shape[1])

    @property
    def hidden_size(self) -> int:
        """Hidden features."""
        return int(self.w.shape[0])

    def madds(self, steps: int) -> int:
        """Multiply-accumulates of ``steps`` steps."""
        h = self.hidden_size
        return steps * h * (self.input_size + h)


@dataclass
class RNNPoolLayer:
    """RNNPool over patches (``patch`` size, ``stride``; no padding).

    Args:
        name (str): Layer name.
        in_shape (tuple): Input ``(h, w, c)``.
        out_shape (tuple): Output ``(h, w, 4 * h2)``.
        patch (tuple): ``(ph, pw)``.
        stride (tuple): ``(sh, sw)``.
        input_offset (int): Minus the input zero point.
        rnn1 (FastGRNNCell): Cell over patch rows / columns.
        rnn2 (FastGRNNCell): Cell over the summaries (both directions).
        output_multiplier (int): Q14 state -> output multiplier.
        output_rshift (int): Output right shift.
        output_offset (int): Output zero point.
        act_min (int): Lower clamp. Defaults to -128.
        act_max (int): Upper clamp. Defaults to 127.
        row_cache (bool): Whether the scratch includes the row cache (the runtime's
            ``row_cache``; the planner turns it off when the budget needs the 5 KB-ish).
            Defaults to True.
    """

    name: str
    in_shape: Shape
    out_shape: Shape
    patch: Tuple[int, int]
    stride: Tuple[int, int]
    input_offset: int
    rnn1: FastGRNNCell
    rnn2: FastGRNNCell
    output_multiplier: int
    output_rshift: int
    output_offset: int
    act_min: int = -128
    act_max: int = 127
    row_cache: bool = True

    @property
    def madds(self) -> int:
        """Multiply-accumulates of one run."""
        ph, pw = self.patch
        per_patch = self.rnn1.madds(2 * ph * pw) + self.rnn2.madds(2 * (ph + pw))
        return self.out_shape[0] * self.out_shape[1] * per_patch

    @property
    def scratch_bytes(self) -> int:
        """Scratch the runtime needs (``rp_rnnpool_get_buffer_size``: input terms, summaries,
        state, plus, with ``row_cache``, ``out_w * (ph - sh) * h1`` int16 row summaries; the
        cell plans are const data, ``rnnpool_plan.py``)."""
        ph, pw = self.patch
        h1, h2 = self.rnn1.hidden_size, self.rnn2.hidden_size
        hm, length, c = max(h1, h2), max(ph, pw), self.in_shape[2]
        minimum = (16 + 4 * hm + 4 * length * hm + 2 * align4(c) +
                   align4(2 * (ph + pw) * h1) + align4(2 * hm))
        if not self.row_cache:
            return minimum
        return minimum + 2 * self.out_shape[1] * max(ph - self.stride[0], 0) * h1


@dataclass
class StreamHead:
    """A detection head run inside the stream: rows are decoded as they are produced, so its
    maps never exist whole.

    Args:
        name (str): Stage name.
        loc (ConvLayer): Box-delta convolution (4 channels).
        conf (ConvLayer): Logit convolution (same kernel, stride and padding).
        level (int): Index of its level in ``DetectSpec.levels``.
    """

    name: str
    loc: ConvLayer
    conf: ConvLayer
    level: int

    @property
    def in_shape(self) -> Shape:
        """Input ``(h, w, c)``."""
        return self.loc.in_shape

    @property
    def out_shape(self) -> Shape:
        """Output rows' ``(h, w, 4)`` (never a whole map)."""
        return self.loc.out_shape

    @property
    def madds(self) -> int:
        """Multiply-accumulates of one run."""
        return self.loc.madds + self.conf.madds


StreamStage = Union[ConvLayer, RNNPoolLayer, L2NormLayer, StreamHead, MBConvLayer]


def stream_window(stage) -> Tuple[int, int]:
    """``(kernel_h, stride_h)`` of a stream stage."""
    if isinstance(stage, RNNPoolLayer):
        return stage.patch[0], stage.stride[0]
    if isinstance(stage, L2NormLayer):
        return 1, 1
    if isinstance(stage, StreamHead):
        return stage.loc.kernel[0], stage.loc.stride[0]
    if isinstance(stage, MBConvLayer):
        return stage.depthwise.kernel[0], stage.depthwise.stride[0]
    return stage.kernel[0], stage.stride[0]


def stream_ring_rows(stage) -> int:
    """Input rows a stream stage keeps (``ring_rows_of`` in ``rp_stream.c``).

    A window of ``k`` rows with stride ``s`` needs ``max(k, s)`` rows. An inverted residual
    block with an expansion expands each row on arrival into its own ring of ``k`` expanded
    rows, so it keeps one input row, or with a residual the rows from output row ``oy`` to the
    last one its window reads (``k - pad``).
    """
    k, s = stream_window(stage)
    if isinstance(stage, MBConvLayer) and stage.expand is not None:
        return k - stage.depthwise.pad[0] if stage.residual is not None else 1
    return max(k, s)


def stream_stage_in_shape(stage) -> Shape:
    """Input ``(h, w, c)`` of a stream stage."""
    return tuple(stage.shape if isinstance(stage, L2NormLayer) else stage.in_shape)


def stream_stage_out_shape(stage) -> Shape:
    """Output ``(h, w, c)`` of a stream stage (a head's: its loc rows), padding excluded."""
    return tuple(stage.shape if isinstance(stage, L2NormLayer) else stage.out_shape)


def mbconv_pixel_bytes(layer: MBConvLayer, n: int) -> int:
    """Scratch of an inverted residual block's pixel passes of ``n`` output pixels
    (``rp_mbconv_pixel_bytes``)."""
    size = align4(n * layer.depthwise.out_shape[2])
    if layer.residual is not None:
        size += align4(n * layer.project.out_shape[2])
    return size


def mbconv_ring_bytes(layer: MBConvLayer) -> int:
    """The ring of ``kernel_h`` expanded rows (``rp_mbconv_ring_bytes``; 0 without expansion)."""
    dw = layer.depthwise
    return align4(dw.kernel[0] * dw.in_shape[1] * dw.in_shape[2]) if layer.expand else 0


@dataclass
class StreamSpec:
    """The streamed front-end: camera rows pushed through a DAG of row stages.

    Args:
        image_shape (tuple): Camera image ``(h, w, c)`` (uint8 pixels; camera consumers see
            ``pixel - 128`` as int8).
        stages (list): Convolutions (regular or depthwise), RNNPool, L2Norm, inverted residual
            blocks and head sinks, in topological order.
        output (str): Name of the map written whole.
        pad_bottom (int): Replicate padding rows at the bottom of ``pad_stage``'s output.
            Defaults to 0.
        pad_right (int): Replicate padding columns at the right. Defaults to 0.
        sources (list[int], optional): Producer of each stage (-1 = camera). Defaults to None
            (a chain).
        output_stage (int, optional): Stage whose map is written whole. Defaults to None (the
            last stage that is not a head).
        pad_stage (int, optional): Stage whose output is replicate-padded; its consumers (or
            the output map) see the padded map. Defaults to None (the output stage).
    """

    image_shape: Shape
    stages: List[StreamStage]
    output: str
    pad_bottom: int = 0
    pad_right: int = 0
    sources: Optional[List[int]] = None
    output_stage: Optional[int] = None
    pad_stage: Optional[int] = None

    @property
    def srcs(self) -> List[int]:
        """Producer of every stage."""
        if self.sources is not None:
            return list(self.sources)
        return [i - 1 for i in range(len(self.stages))]

    @property
    def out_index(self) -> int:
        """Index of the output stage."""
        if self.output_stage is not None:
            return self.output_stage
        return max(i for i, s in enumerate(self.stages) if not isinstance(s, StreamHead))

    @property
    def pad_index(self) -> int:
        """Index of the replicate-padded stage."""
        return self.out_index if self.pad_stage is None else self.pad_stage

    @property
    def heads(self) -> List[StreamHead]:
        """Head stages in stream order."""
        return [s for s in self.stages if isinstance(s, StreamHead)]

    def stage_out_shape(self, index: int) -> Shape:
        """Output of stage ``index`` as its consumers see it (padding included)."""
        h, w, c = stream_stage_out_shape(self.stages[index])
        if index == self.pad_index:
            return (h + self.pad_bottom, w + self.pad_right, c)
        return (h, w, c)

    @property
    def out_shape(self) -> Shape:
        """Shape of the produced map (padding included)."""
        return self.stage_out_shape(self.out_index)

    def ring_bytes(self, index: int) -> int:
        """Bytes of stage ``index``'s input ring plus, for a block, its expanded rows."""
        stage = self.stages[index]
        h, w, c = stream_stage_in_shape(stage)
        size = align4(stream_ring_rows(stage) * w * c)
        if isinstance(stage, MBConvLayer):
            size += mbconv_ring_bytes(stage)
        return size

    @property
    def scratch_bytes(self) -> int:
        """Row rings + head rows + RNNPool scratch + block pixel passes
        (``rp_stream_get_buffer_size``)."""
        size, loc_max, conf_max, rnn, px = 0, 0, 0, 0, 0
        for index, stage in enumerate(self.stages):
            size += self.ring_bytes(index)
            if isinstance(stage, StreamHead):
                loc_max = max(loc_max, align4(stage.loc.out_shape[1] * 4))
                conf_max = max(conf_max, align4(stage.conf.out_shape[1] *
                                                stage.conf.out_shape[2]))
            if isinstance(stage, RNNPoolLayer):
                rnn = max(rnn, align4(stage.scratch_bytes))
            if isinstance(stage, MBConvLayer):
                ow = stage.depthwise.out_shape[1]
                px = max(px, mbconv_pixel_bytes(stage, min(ow, RP_MBCONV_CHUNK)))
        return size + loc_max + conf_max + rnn + px

    @property
    def madds(self) -> int:
        """Multiply-accumulates of one run."""
        return sum(getattr(stage, 'madds', 0) for stage in self.stages)


ArenaLayer = Union[ConvLayer, AddLayer, L2NormLayer, MBConvLayer]


@dataclass
class ProgramStep:
    """One whole-map layer with the names of the tensors it reads and writes.

    Args:
        layer: The layer.
        inputs (list[str]): Input tensor names (two for an add).
        output (str): Output tensor name.
    """

    layer: ArenaLayer
    inputs: List[str]
    output: str


@dataclass
class DetectLevel:
    """Decoding tables of one detection level (see ``rp_detect_level``).

    Args:
        loc (str): Name of the loc tensor ``(h, w, 4)``.
        conf (str): Name of the conf tensor ``(h, w, num_logits)``.
        fg_index (int): Foreground logit index.
        anchor_x0 (int): Q4 anchor centre x at column 0.
        anchor_y0 (int): Q4 anchor centre y at row 0.
        step_x (int): Q4 anchor step along x.
        step_y (int): Q4 anchor step along y.
        ctr_x (np.ndarray): int32 ``[256]``.
        ctr_y (np.ndarray): int32 ``[256]``.
        half_w (np.ndarray): int32 ``[256]``.
        half_h (np.ndarray): int32 ``[256]``.
        score (np.ndarray): int16 ``[511]``.
    """

    loc: str
    conf: str
    fg_index: int
    anchor_x0: int
    anchor_y0: int
    step_x: int
    step_y: int
    ctr_x: np.ndarray
    ctr_y: np.ndarray
    half_w: np.ndarray
    half_h: np.ndarray
    score: np.ndarray


@dataclass
class DetectSpec:
    """Post-processing: levels, thresholds and list sizes.

    Args:
        levels (list[DetectLevel]): Levels in the order they are decoded.
        score_thr (int): Q15 score threshold.
        iou_thr (int): Q15 NMS IoU threshold.
        max_candidates (int): Bounded pre-NMS candidate list size.
        max_dets (int): Detections out (top-K).
    """

    levels: List[DetectLevel]
    score_thr: int
    iou_thr: int
    max_candidates: int = 64
    max_dets: int = 16


@dataclass
class LayerProgram:
    """A whole quantised model: stream front-end, arena layers, detection post-processing.

    Args:
        name (str): C identifier prefix of the model.
        stream (StreamSpec): Front-end.
        steps (list[ProgramStep]): Whole-map layers in execution order.
        detect (DetectSpec): Post-processing.
        tensor_shapes (dict): Shapes of every arena tensor (filled by :meth:`infer_shapes`).
        head_shapes (dict): Shapes of every head tensor, streamed ones included (idem).
    """

    name: str
    stream: StreamSpec
    steps: List[ProgramStep]
    detect: DetectSpec
    tensor_shapes: dict = field(default_factory=dict)
    head_shapes: dict = field(default_factory=dict)

    def infer_shapes(self) -> dict:
        """Fills and returns ``tensor_shapes``, checking that the steps chain consistently."""
        shapes = {self.stream.output: self.stream.out_shape}
        streamed = {}
        for head in self.stream.heads:
            lv = self.detect.levels[head.level]
            streamed[lv.loc] = tuple(head.loc.out_shape)
            streamed[lv.conf] = tuple(head.conf.out_shape)
        for step in self.steps:
            for name in step.inputs:
                if name not in shapes:
                    raise ValueError(f'layer {step.layer.name}: input tensor {name!r} is not '
                                     'produced by an earlier layer')
            expected_in = layer_in_shape(step.layer)
            if tuple(shapes[step.inputs[0]]) != tuple(expected_in):
                raise ValueError(f'layer {step.layer.name}: input {step.inputs[0]!r} has shape '
                                 f'{shapes[step.inputs[0]]}, the layer expects {expected_in}')
            if step.output in shapes:
                raise ValueError(f'layer {step.layer.name}: tensor {step.output!r} written twice')
            shapes[step.output] = layer_out_shape(step.layer)
        self.tensor_shapes = dict(shapes)
        shapes = dict(shapes, **streamed)
        for lv in self.detect.levels:
            for name in (lv.loc, lv.conf):
                if name not in shapes:
                    raise ValueError(f'detection level: head tensor {name!r} is not produced')
            if shapes[lv.loc][2] != 4 or shapes[lv.loc][:2] != shapes[lv.conf][:2]:
                raise ValueError(f'detection level {lv.loc!r}/{lv.conf!r}: loc must be (h, w, 4) '
                                 f'and conf (h, w, n); got {shapes[lv.loc]} and {shapes[lv.conf]}')
        self.head_shapes = {name: shapes[name] for lv in self.detect.levels
                            for name in (lv.loc, lv.conf)}
        return self.tensor_shapes

    def validate(self) -> None:
        """Checks the runtime's limits, naming the offending layer (raises ValueError)."""
        h, w, _ = self.stream.image_shape
        if h > 2047 or w > 2047:
            raise ValueError(f'image {w}x{h}: at most 2047 pixels per side (Q4 int16 boxes)')
        if len(self.stream.stages) > RP_MAX_STAGES:
            raise ValueError(f'stream: {len(self.stream.stages)} stages, at most {RP_MAX_STAGES}')
        stream = self.stream
        for i, (stage, src) in enumerate(zip(stream.stages, stream.srcs)):
            if not -1 <= src < i:
                raise ValueError(f'stream stage {i} ({stage.name}): producer {src} is not an '
                                 'earlier stage')
            have = stream.image_shape if src == -1 else stream.stage_out_shape(src)
            if tuple(have) != stream_stage_in_shape(stage):
                raise ValueError(f'stream stage {i} ({stage.name}): input {have} from stage {src}'
                                 f', the layer expects {stream_stage_in_shape(stage)}')
        convs = []
        for stage in self.stream.stages:
            if isinstance(stage, StreamHead):
                convs += [stage.loc, stage.conf]
            elif isinstance(stage, ConvLayer):
                convs.append(stage)
            elif isinstance(stage, MBConvLayer):
                convs += [c for c in (stage.expand, stage.depthwise, stage.project) if c]
                dw = stage.depthwise
                if dw.stride[0] > dw.kernel[0] or dw.pad[0] >= dw.kernel[0]:
                    raise ValueError(f'layer {stage.name}: a streamed block needs stride <= '
                                     f'kernel and pad < kernel (got {dw.stride}, {dw.pad})')
            elif isinstance(stage, RNNPoolLayer):
                k, s = stream_window(stage)
                if max(k, s) > RP_MAX_KERNEL:
                    raise ValueError(f'layer {stage.name}: patch {stage.patch} larger than '
                                     f'{RP_MAX_KERNEL}')
                for cell in (stage.rnn1, stage.rnn2):
                    if cell.hidden_size > RP_MAX_HIDDEN:
                        raise ValueError(f'layer {stage.name}: hidden size {cell.hidden_size} '
                                         f'> {RP_MAX_HIDDEN}')
        for step in self.steps:
            layer = step.layer
            if isinstance(layer, MBConvLayer):
                convs += [c for c in (layer.expand, layer.depthwise, layer.project) if c]
            elif isinstance(layer, ConvLayer):
                convs.append(layer)
        for conv in convs:
            if max(max(conv.kernel), conv.stride[0]) > RP_MAX_KERNEL:
                raise ValueError(f'layer {conv.name}: kernel {conv.kernel} / stride '
                                 f'{conv.stride} larger than {RP_MAX_KERNEL}')
            if np.any(conv.rshift < 1) or np.any(conv.rshift > 62):
                raise ValueError(f'layer {conv.name}: requantisation shift outside [1, 62]')

    @property
    def madds(self) -> int:
        """Multiply-accumulates of one image."""
        total = self.stream.madds
        for step in self.steps:
            total += getattr(step.layer, 'madds', 0)
        return total


RP_MAX_HIDDEN = 64
RP_MAX_KERNEL = 16
RP_MAX_STAGES = 16
RP_MBCONV_CHUNK = 8  # output pixels per pass of a block given its minimum scratch (rp_nn.h)


def align4(n: int) -> int:
    """Rounds ``n`` up to a multiple of 4."""
    return (int(n) + 3) & ~3


def layer_in_shape(layer: ArenaLayer) -> Shape:
    """Input shape of an arena layer."""
    if isinstance(layer, (AddLayer, L2NormLayer)):
        return tuple(layer.shape)
    return tuple(layer.in_shape)


def layer_out_shape(layer: ArenaLayer) -> Shape:
    """Output shape of an arena layer."""
    if isinstance(layer, (AddLayer, L2NormLayer)):
        return tuple(layer.shape)
    return tuple(layer.out_shape)


def layer_scratch_bytes(layer: ArenaLayer) -> int:
    """Scratch bytes an arena layer needs."""
    return layer.scratch_bytes if isinstance(layer, MBConvLayer) else 0


__all__: Sequence[str] = [
    'ConvLayer', 'AddLayer', 'L2NormLayer', 'MBConvLayer', 'FastGRNNCell', 'RNNPoolLayer',
    'StreamSpec', 'StreamHead', 'stream_window', 'stream_ring_rows', 'stream_stage_in_shape',
    'stream_stage_out_shape', 'mbconv_pixel_bytes', 'mbconv_ring_bytes', 'ProgramStep',
    'DetectLevel', 'DetectSpec', 'LayerProgram', 'align4',
    'layer_in_shape', 'layer_out_shape', 'layer_scratch_bytes'
]
