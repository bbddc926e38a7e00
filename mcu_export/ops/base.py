"""The op interface of the exporter: one class per op kind, registered by kind.

Every op kind is a dataclass subclass of :class:`Op` decorated with :func:`register_op`. It
owns its shapes, cost, runtime limits, arena scratch, integer reference, C emission and C call,
and, when it can run as a row stage of ``rp_stream`` (``streamable``), its row window, ring and
stream scratch and its ``rp_stream_stage`` initialiser. The planner
(:mod:`mcu_export.planner`), the reference interpreter (:mod:`mcu_export.reference`) and the code
generator (:mod:`mcu_export.codegen`) only call these methods; they never switch on op kinds, so
a new kind is one class (see ``tests/test_mcu_export/test_op_registry.py``).

A program ends in an *output op* (:class:`OutputOp`: SSD decoding, classification ...) that
reads named tensors and produces the model's result: it also writes its part of ``model.h``
(the result type), of the model context and of ``*_run``, and the function that hands the
result to the harness (:meth:`OutputOp.c_report`).
"""
import re
from dataclasses import dataclass
from typing import ClassVar, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np

Shape = Tuple[int, int, int]  # (h, w, c), HWC int8 maps

#: Runtime limits (``rp_types.h`` / ``rp_nn.h``); ``tests/test_mcu_export/test_sizes.py``
#: compiles a host program that prints the C values and fails when they differ.
RP_MAX_HIDDEN = 64
RP_MAX_KERNEL = 16
RP_MAX_STAGES = 16
RP_MBCONV_CHUNK = 8  # output pixels per pass of a block given its minimum scratch

OPS: Dict[str, Type['Op']] = {}


def register_op(kind: str):
    """Class decorator registering an op kind (``ValueError`` on a duplicate kind)."""

    def wrap(cls):
        if kind in OPS:
            raise ValueError(f'op kind {kind!r} is already registered by '
                             f'{OPS[kind].__module__}.{OPS[kind].__name__}')
        cls.kind = kind
        OPS[kind] = cls
        return cls

    return wrap


def get_op(kind: str) -> Type['Op']:
    """The class registered for ``kind`` (``ValueError`` naming the kind when unknown)."""
    if kind not in OPS:
        raise ValueError(f'unknown op kind {kind!r} (registered: {", ".join(sorted(OPS))})')
    return OPS[kind]


def align4(n: int) -> int:
    """Rounds ``n`` up to a multiple of 4."""
    return (int(n) + 3) & ~3


_CTYPES = {
    np.dtype(np.int8): 'int8_t',
    np.dtype(np.uint8): 'uint8_t',
    np.dtype(np.int16): 'int16_t',
    np.dtype(np.int32): 'int32_t',
}


def c_ident(name: str) -> str:
    """A C identifier made from a layer / tensor name."""
    ident = re.sub(r'[^0-9A-Za-z_]', '_', name)
    return ident if not ident[:1].isdigit() else f'_{ident}'


def c_array(name: str, values: np.ndarray, dtype, static: bool = True,
            const: bool = True) -> List[str]:
    """Lines defining a 1-D C array (flattened C order)."""
    arr = np.ascontiguousarray(values).astype(dtype).reshape(-1)
    ctype = _CTYPES[np.dtype(dtype)]
    qual = ('static ' if static else '') + ('const ' if const else '')
    lines = [f'{qual}{ctype} {name}[{max(arr.size, 1)}] __attribute__((aligned(4))) = {{']
    per_line = 20
    if arr.size == 0:
        lines.append('    0')
    for i in range(0, arr.size, per_line):
        lines.append('    ' + ', '.join(str(int(v)) for v in arr[i:i + per_line]) + ',')
    lines.append('};')
    return lines


def c_dims(shape) -> str:
    """Designated initialiser of an ``rp_dims``."""
    h, w, c = (int(v) for v in shape)
    return f'{{.h = {h}, .w = {w}, .c = {c}}}'


def c_struct(ctype: str, ident: str, fields: Sequence[Tuple[str, object]],
             static: bool = True) -> List[str]:
    """``static const CTYPE IDENT = {.field = value, ...};`` (designated initialisers)."""
    lines = [f'{"static " if static else ""}const {ctype} {ident} = {{']
    lines += [f'    .{key} = {value},' for key, value in fields]
    return lines + ['};']


def c_weight_arrays(p: str, weights: np.ndarray, multiplier: np.ndarray, rshift: np.ndarray,
                    bias: Optional[np.ndarray]) -> Tuple[List[str], str]:
    """The flash arrays of a per-output-channel quantised weight layer (``P_w``, ``P_mult``,
    ``P_shift``, ``P_bias``) and the C expression of its bias pointer (``NULL`` without one)."""
    lines = c_array(f'{p}_w', weights, np.int8)
    lines += c_array(f'{p}_mult', multiplier, np.int32)
    lines += c_array(f'{p}_shift', rshift, np.int8)
    if bias is None:
        return lines, 'NULL'
    return lines + c_array(f'{p}_bias', bias, np.int32), f'{p}_bias'


@dataclass
class Op:
    """Base of every op kind (a dataclass; ``name`` is the first field of every op).

    Subclasses provide ``in_shape`` (first input) and ``out_shape`` ``(h, w, c)`` as fields or
    properties (a sink's ``out_shape`` is what it hands on), ``reference``, ``emit`` and
    ``c_call``, and, when ``streamable``, ``row_window`` and ``c_stage``.
    """

    kind: ClassVar[str] = ''
    num_inputs: ClassVar[int] = 1
    streamable: ClassVar[bool] = False  # can run as a row stage of rp_stream
    #: False for a stream stage whose rows are consumed inside the stream and never form a
    #: map (a detection head sink): no stage may read it and it cannot be the stream's output.
    map_output: ClassVar[bool] = True

    name: str

    # ---- shapes, cost, limits ----
    @property
    def madds(self) -> int:
        """Multiply-accumulates of one run."""
        return 0

    @property
    def report_kind(self) -> str:
        """Short kind shown in reports (defaults to the kind)."""
        return self.kind

    def validate(self) -> None:
        """Checks the runtime's limits (``ValueError`` naming ``self.name``)."""

    def validate_stream(self) -> None:
        """Extra limits of the op as a stream stage (defaults to :meth:`validate`)."""
        self.validate()

    # ---- whole-map execution (arena) ----
    def scratch_bytes(self, lean: bool = False) -> int:
        """Arena scratch of the whole-map call (``lean``: the smallest the kernel accepts)."""
        return 0

    def c_scratch_query(self, ident: str, lean: bool = False) -> Optional[str]:
        """C expression of the kernel's own scratch-size query (``rp_*_get_buffer_size`` /
        ``_get_min_buffer_size`` with ``lean``) or None when it needs none; the size tests
        compare it with :meth:`scratch_bytes`."""
        return None

    def in_place_ok(self) -> bool:
        """Whether the output may be written over the first input (same offset)."""
        return False

    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Bit-exact integer reference of the C kernel on whole int8 maps."""
        raise NotImplementedError(f'op {self.name} ({self.kind}): no reference')

    def emit(self, prefix: str) -> Tuple[List[str], str]:
        """C declarations (static const, designated initialisers) and the object's name."""
        raise NotImplementedError(f'op {self.name} ({self.kind}): no C emission')

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        """C expression (an ``rp_status``) running the op on whole maps; ``scratch`` is the
        ``(pointer expression, bytes)`` of its arena scratch when it has one."""
        raise NotImplementedError(f'op {self.name} ({self.kind}): cannot run on whole maps')

    # ---- streaming ----
    def row_window(self) -> Tuple[int, int]:
        """``(kernel_h, stride_h)`` over its input rows."""
        raise NotImplementedError(f'op {self.name} ({self.kind}) is not streamable')

    def ring_rows(self) -> int:
        """Input rows its ring keeps (``ring_rows_of`` in ``rp_stream.c``)."""
        k, s = self.row_window()
        return max(k, s)

    def own_ring_bytes(self) -> int:
        """Bytes of rows the stage owns besides its input ring (a block's expanded rows)."""
        return 0

    def ring_bytes(self) -> int:
        """Its input ring plus the rows it owns, 4-aligned."""
        _, w, c = self.in_shape
        return align4(self.ring_rows() * w * c) + self.own_ring_bytes()

    def stream_scratch(self) -> Dict[str, int]:
        """Shared stream scratch by pool name (the stream takes the max per pool, sums pools)."""
        return {}

    def c_stage(self, ident: str, src: int) -> str:
        """The ``rp_stream_stage`` initialiser."""
        raise NotImplementedError(f'op {self.name} ({self.kind}) is not streamable')


@dataclass
class OutputOp(Op):
    """The program's last op: reads named tensors, produces the model's result.

    Besides :class:`Op`'s ``emit`` (its constant tables), it writes the result type into
    ``model.h`` (``<prefix>_result``), fields of the model context, statements of
    ``<prefix>_run`` (before the stream, after whole-map steps, at the end) and
    ``<prefix>_report_result``, which hands the result to the harness as labelled int32 records
    (the harness prints ``label v0 v1 ...`` and dumps the values as int32 little endian; the
    Python twin is :meth:`result_bytes`).
    """

    # ---- graph ----
    def input_names(self) -> List[str]:
        """Tensors it reads."""
        raise NotImplementedError

    def check_inputs(self, shapes: Dict[str, Shape]) -> None:
        """Checks the shapes of its inputs (``ValueError``)."""
        for name in self.input_names():
            if name not in shapes:
                raise ValueError(f'{self.kind} {self.name}: tensor {name!r} is not produced')

    def streamed_inputs(self, stream) -> Dict[str, Shape]:
        """Inputs produced by sink stages of the stream (never whole maps), with shapes."""
        return {}

    def streamed_tensors(self, stream, outputs: Sequence[Optional[np.ndarray]]
                         ) -> Dict[str, np.ndarray]:
        """Reference values of :meth:`streamed_inputs` from the stages' outputs."""
        return {}

    def stream_sink(self, step, src: int, pending: dict) -> Optional[Op]:
        """Called by ``planner.stream_steps`` for a moved whole-map step whose output this op
        reads: returns a sink stage to append once complete (``pending`` persists between
        calls of one cut) or None while incomplete; by default such a step cannot move."""
        raise ValueError(f'layer {step.layer.name}: its output {step.output!r} is read by the '
                         f'{self.kind} output, which cannot take it row by row')

    def check_sinks_complete(self, pending: dict) -> None:
        """Raises when ``pending`` still holds parts of a sink (after the last moved step)."""
        if pending:
            raise ValueError(f'{self.kind}: incomplete stream sinks {sorted(pending)}')

    def consume_steps(self, program) -> List[Tuple[int, object]]:
        """``(step, key)``: where it consumes inputs, in order (step 0 = the stream); its
        inputs live until then. Defaults to everything at the last step."""
        return [(len(program.steps), None)]

    def inputs_at(self, key) -> List[str]:
        """Input tensors consumed at the point ``key`` of :meth:`consume_steps`."""
        return self.input_names()

    # ---- reference ----
    def result(self, program, tensors: Dict[str, np.ndarray]) -> np.ndarray:
        """The reference result from every tensor (what ``<prefix>_run`` returns)."""
        raise NotImplementedError

    def result_bytes(self, result: np.ndarray) -> bytes:
        """The harness's dump of the result (after the tensors)."""
        raise NotImplementedError

    # ---- C ----
    def emit_tables(self, program, prefix: str) -> List[str]:
        """Its constant tables in model.c (defaults to :meth:`Op.emit`'s lines)."""
        return self.emit(prefix)[0]

    def c_header(self, P: str, PU: str) -> List[str]:
        """model.h lines: macros ``PU_*`` and ``typedef ... P_result;``."""
        raise NotImplementedError

    def c_ctx_fields(self, PU: str) -> List[str]:
        """Fields of the model context (its state, e.g. a candidate list)."""
        return []

    def c_begin(self, program) -> List[str]:
        """Statements of ``*_run`` before the stream (``st`` holds the status, ``ctx`` the
        context); each sets ``st``."""
        return []

    def c_stream_arg(self) -> str:
        """The ``rp_detect_ctx *`` given to ``rp_stream_run`` (sinks decode into it)."""
        return 'NULL'

    def c_consume(self, program, key, tensor) -> List[str]:
        """Statements consuming the inputs of point ``key`` (``tensor(name)`` is the C pointer
        of an arena tensor); each sets ``st``."""
        return []

    def c_finish(self, program, PU: str, tensor) -> List[str]:
        """The last statements of ``*_run`` (``result`` is the caller's ``P_result *``,
        ``tensor(name)`` an arena tensor's C pointer); they return the status."""
        raise NotImplementedError

    def c_report(self, P: str) -> List[str]:
        """Body of ``void P_report_result(const P_result *r, rp_result_sink_fn sink, void
        *user)``: ``sink(user, "label", values, n)`` per record."""
        raise NotImplementedError


__all__ = ['Shape', 'OPS', 'register_op', 'get_op', 'Op', 'OutputOp', 'align4', 'c_ident',
           'c_array', 'c_dims', 'c_struct', 'c_weight_arrays', 'RP_MAX_HIDDEN', 'RP_MAX_KERNEL', 'RP_MAX_STAGES',
           'RP_MBCONV_CHUNK']
