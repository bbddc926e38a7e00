"""The layer-program IR of the Cortex-M4 exporter: ops wired into a program.

A :class:`LayerProgram` is what the code generator turns into C and what
:mod:`mcu_export.reference` executes bit-exactly. It has three parts, mirroring the runtime:

1. a streamed front-end (:class:`StreamSpec`): streamable ops (convolutions, RNNPool, L2Norm,
   inverted residual blocks, detection head sinks ...) run row by row over the camera image on
   row rings, producing one whole map (:func:`mcu_export.planner.plan_schedule` decides how far);
2. ``steps``: whole-map ops in execution order, each reading and writing named tensors that
   the memory planner places in one arena;
3. ``output``: the output op (:class:`~mcu_export.ops.base.OutputOp`; SSD post-processing
   :class:`DetectSpec` for the detectors) that consumes named tensors and makes the result.

The op kinds live in :mod:`mcu_export.ops` (one class per kind, registered by kind); the
classes are re-exported here under their historical names. Every array is already quantised
(int8 weights, int32 biases, int32 multipliers, int8 right shifts); see :mod:`mcu_export.quantize`.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .ops import (RP_MAX_HIDDEN, RP_MAX_KERNEL, RP_MAX_STAGES, RP_MBCONV_CHUNK, AddLayer,
                  ConvLayer, DetectLevel, DetectSpec, FastGRNNCell, L2NormLayer, MBConvLayer,
                  Op, OutputOp, RNNPoolLayer, Shape, StreamHead, align4)

StreamStage = Op
ArenaLayer = Op


# ---- per-op queries under their historical names (the ops own the answers) ----
def stream_window(stage: Op) -> Tuple[int, int]:
    """``(kernel_h, stride_h)`` of a stream stage."""
    return stage.row_window()


def stream_ring_rows(stage: Op) -> int:
    """Input rows a stream stage keeps (``ring_rows_of`` in ``rp_stream.c``)."""
    return stage.ring_rows()


def stream_stage_in_shape(stage: Op) -> Shape:
    """Input ``(h, w, c)`` of a stream stage."""
    return tuple(stage.in_shape)


def stream_stage_out_shape(stage: Op) -> Shape:
    """Output ``(h, w, c)`` of a stream stage (a head's: its loc rows), padding excluded."""
    return tuple(stage.out_shape)


def mbconv_pixel_bytes(layer: MBConvLayer, n: int) -> int:
    """Scratch of an inverted residual block's pixel passes of ``n`` output pixels."""
    return layer.pixel_bytes(n)


def mbconv_ring_bytes(layer: MBConvLayer) -> int:
    """The ring of ``kernel_h`` expanded rows (0 without expansion)."""
    return layer.expanded_ring_bytes()


def layer_in_shape(layer: Op) -> Shape:
    """Input shape of an arena layer."""
    return tuple(layer.in_shape)


def layer_out_shape(layer: Op) -> Shape:
    """Output shape of an arena layer."""
    return tuple(layer.out_shape)


def layer_scratch_bytes(layer: Op, lean: bool = False) -> int:
    """Scratch bytes an arena layer needs."""
    return layer.scratch_bytes(lean)


@dataclass
class StreamSpec:
    """The streamed front-end: camera rows pushed through a DAG of row stages.

    Args:
        image_shape (tuple): Camera image ``(h, w, c)`` (uint8 pixels; camera consumers see
            ``pixel - 128`` as int8).
        stages (list[Op]): Streamable ops in topological order.
        output (str): Name of the map written whole.
        pad_bottom (int): Replicate padding rows at the bottom of ``pad_stage``'s output.
            Defaults to 0.
        pad_right (int): Replicate padding columns at the right. Defaults to 0.
        sources (list[int], optional): Producer of each stage (-1 = camera). Defaults to None
            (a chain).
        output_stage (int, optional): Stage whose map is written whole. Defaults to None (the
            last stage with a map output).
        pad_stage (int, optional): Stage whose output is replicate-padded; its consumers (or
            the output map) see the padded map. Defaults to None (the output stage).
    """

    image_shape: Shape
    stages: List[Op]
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
        return max(i for i, s in enumerate(self.stages) if s.map_output)

    @property
    def pad_index(self) -> int:
        """Index of the replicate-padded stage."""
        return self.out_index if self.pad_stage is None else self.pad_stage

    @property
    def heads(self) -> List[Op]:
        """Sink stages (no map output, e.g. detection heads) in stream order."""
        return [s for s in self.stages if not s.map_output]

    def stage_out_shape(self, index: int) -> Shape:
        """Output of stage ``index`` as its consumers see it (padding included)."""
        h, w, c = self.stages[index].out_shape
        if index == self.pad_index:
            return (h + self.pad_bottom, w + self.pad_right, c)
        return (h, w, c)

    @property
    def out_shape(self) -> Shape:
        """Shape of the produced map (padding included)."""
        return self.stage_out_shape(self.out_index)

    def ring_bytes(self, index: int) -> int:
        """Bytes of stage ``index``'s input ring plus the rows it owns."""
        return self.stages[index].ring_bytes()

    @property
    def scratch_pools(self) -> Dict[str, int]:
        """Shared scratch by pool: the largest request of any stage."""
        pools: Dict[str, int] = {}
        for stage in self.stages:
            for pool, size in stage.stream_scratch().items():
                pools[pool] = max(pools.get(pool, 0), int(size))
        return pools

    @property
    def scratch_bytes(self) -> int:
        """Rings + shared pools (``rp_stream_get_buffer_size``)."""
        return (sum(self.ring_bytes(i) for i in range(len(self.stages))) +
                sum(self.scratch_pools.values()))

    @property
    def madds(self) -> int:
        """Multiply-accumulates of one run."""
        return sum(stage.madds for stage in self.stages)

    def validate(self) -> None:
        """Checks stage count, wiring, shapes and every stage's stream limits."""
        h, w, _ = self.image_shape
        if h > 2047 or w > 2047:
            raise ValueError(f'image {w}x{h}: at most 2047 pixels per side (Q4 int16 boxes)')
        if len(self.stages) > RP_MAX_STAGES:
            raise ValueError(f'stream: {len(self.stages)} stages, at most {RP_MAX_STAGES}')
        for i, (stage, src) in enumerate(zip(self.stages, self.srcs)):
            if not stage.streamable:
                raise ValueError(f'stream stage {i} ({stage.name}): a {stage.kind} op cannot '
                                 'run in the stream')
            if not -1 <= src < i:
                raise ValueError(f'stream stage {i} ({stage.name}): producer {src} is not an '
                                 'earlier stage')
            if src >= 0 and not self.stages[src].map_output:
                raise ValueError(f'stream stage {i} ({stage.name}): producer {src} has no '
                                 'output rows')
            have = self.image_shape if src == -1 else self.stage_out_shape(src)
            if tuple(have) != tuple(stage.in_shape):
                raise ValueError(f'stream stage {i} ({stage.name}): input {have} from stage {src}'
                                 f', the layer expects {tuple(stage.in_shape)}')
            k, s = stage.row_window()
            if stage.ring_rows() > RP_MAX_KERNEL or max(k, s) > RP_MAX_KERNEL:
                raise ValueError(f'stream stage {i} ({stage.name}): window {(k, s)} larger '
                                 f'than {RP_MAX_KERNEL}')
            stage.validate_stream()


@dataclass
class ProgramStep:
    """One whole-map op with the names of the tensors it reads and writes.

    Args:
        layer (Op): The op.
        inputs (list[str]): Input tensor names (``layer.num_inputs`` of them).
        output (str): Output tensor name.
    """

    layer: Op
    inputs: List[str]
    output: str


@dataclass
class LayerProgram:
    """A whole quantised model: stream front-end, arena ops, output op.

    Args:
        name (str): Model name.
        stream (StreamSpec): Front-end.
        steps (list[ProgramStep]): Whole-map ops in execution order.
        output (OutputOp): The output op (:class:`DetectSpec` for a detector).
        tensor_shapes (dict): Shapes of every arena tensor (filled by :meth:`infer_shapes`).
        head_shapes (dict): Shapes of every tensor the output op reads, streamed ones included
            (idem).
    """

    name: str
    stream: StreamSpec
    steps: List[ProgramStep]
    output: OutputOp
    tensor_shapes: dict = field(default_factory=dict)
    head_shapes: dict = field(default_factory=dict)

    @property
    def detect(self) -> OutputOp:
        """The output op under its detector name (``program.detect.levels`` ...)."""
        return self.output

    def infer_shapes(self) -> dict:
        """Fills and returns ``tensor_shapes``, checking that the steps chain consistently."""
        shapes = {self.stream.output: self.stream.out_shape}
        streamed = self.output.streamed_inputs(self.stream)
        for step in self.steps:
            layer = step.layer
            for name in step.inputs:
                if name not in shapes:
                    raise ValueError(f'layer {layer.name}: input tensor {name!r} is not '
                                     'produced by an earlier layer')
            if layer.num_inputs and len(step.inputs) != layer.num_inputs:
                raise ValueError(f'layer {layer.name}: {len(step.inputs)} inputs, a '
                                 f'{layer.kind} op takes {layer.num_inputs}')
            expected_in = tuple(layer.in_shape)
            if tuple(shapes[step.inputs[0]]) != expected_in:
                raise ValueError(f'layer {layer.name}: input {step.inputs[0]!r} has shape '
                                 f'{shapes[step.inputs[0]]}, the layer expects {expected_in}')
            if step.output in shapes:
                raise ValueError(f'layer {layer.name}: tensor {step.output!r} written twice')
            shapes[step.output] = tuple(layer.out_shape)
        self.tensor_shapes = dict(shapes)
        shapes = dict(shapes, **streamed)
        self.output.check_inputs(shapes)
        self.head_shapes = {name: tuple(shapes[name]) for name in self.output.input_names()}
        return self.tensor_shapes

    def validate(self) -> None:
        """Checks the runtime's limits, naming the offending layer (raises ValueError)."""
        self.stream.validate()
        for step in self.steps:
            step.layer.validate()
        self.output.validate()

    @property
    def madds(self) -> int:
        """Multiply-accumulates of one image."""
        return self.stream.madds + sum(step.layer.madds for step in self.steps)


__all__: Sequence[str] = [
    'ConvLayer', 'AddLayer', 'L2NormLayer', 'MBConvLayer', 'FastGRNNCell', 'RNNPoolLayer',
    'StreamSpec', 'StreamHead', 'stream_window', 'stream_ring_rows', 'stream_stage_in_shape',
    'stream_stage_out_shape', 'mbconv_pixel_bytes', 'mbconv_ring_bytes', 'ProgramStep',
    'DetectLevel', 'DetectSpec', 'LayerProgram', 'align4', 'Op', 'OutputOp',
    'layer_in_shape', 'layer_out_shape', 'layer_scratch_bytes', 'RP_MAX_HIDDEN',
    'RP_MAX_KERNEL', 'RP_MAX_STAGES', 'RP_MBCONV_CHUNK'
]
