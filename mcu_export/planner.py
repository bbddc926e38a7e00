"""Static arena planner: liveness-based offsets for every tensor and scratch buffer.

Steps are numbered 0 (the streamed front-end) and 1..N (the whole-map layers). A tensor lives
from the step that writes it to the last step that reads it (a head tensor until its detection
level is decoded); a scratch buffer lives during its own step. Buffers whose lifetimes overlap
never share bytes, with one declared exception: an inverted residual block (``rp_mbconv_s8``)
that is its input's last reader may write its output *in place* over the input
(``Buffer.alias_of``) when :func:`mbconv_in_place_ok` proves that every output row lands on
input rows the block has already consumed (it reads input rows once, in order, into its ring of
expanded rows); that memory-lean plan also gives each block its minimum scratch (a few output
pixels per pass instead of whole rows). Aliased tensors form one placement unit. Units are
placed by decreasing size at the lowest offset free at every step of their lifetime; the
planner's peak is the arena size the generated code needs.

:func:`plan_schedule` decides, per layer, between streaming and whole maps: it moves the first
``n`` whole-map layers into the streamed front-end (:func:`stream_steps`: blocks, convolutions,
L2Norms run row by row on line buffers, a head pair becomes a sink decoded row by row), for every
``n`` where exactly one streamed map is still read whole afterwards, plans each, and keeps the
cut with the smallest arena.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .ir import RP_MBCONV_CHUNK, LayerProgram, MBConvLayer, StreamSpec, align4

ALIGNMENT = 4
# RP_MBCONV_CHUNK in rp_nn.h: output pixels per pass of a block given its minimum scratch
MBCONV_CHUNK = RP_MBCONV_CHUNK


@dataclass
class Buffer:
    """One arena buffer.

    Args:
        name (str): Tensor name or ``scratch:<layer>``.
        size (int): Bytes.
        start (int): First step that uses it.
        end (int): Last step that uses it.
        offset (int): Arena offset (filled by the planner). Defaults to -1.
        alias_of (str, optional): Input tensor this one is written over in place (same
            offset). Defaults to None.
    """

    name: str
    size: int
    start: int
    end: int
    offset: int = -1
    alias_of: Optional[str] = None


@dataclass
class ArenaPlan:
    """Result of :func:`plan_arena`.

    Args:
        buffers (dict[str, Buffer]): Buffers by name.
        arena_bytes (int): Planned arena size (peak of offset + size).
        live_bytes (list[int]): Bytes live during each step (a lower bound of the arena).
        step_names (list[str]): Name of each step.
        output_steps (list[tuple[int, object]]): ``(step, key)`` where the output op consumes
            its inputs, in order (:meth:`OutputOp.consume_steps`; a detector's key is the level).
    """

    buffers: Dict[str, Buffer]
    arena_bytes: int
    live_bytes: List[int]
    step_names: List[str]
    output_steps: List[Tuple[int, object]] = field(default_factory=list)

    @property
    def detect_steps(self) -> List[Tuple[int, object]]:
        """``output_steps`` under its detector name (``(step, level)`` in decoding order)."""
        return self.output_steps


def detect_order(program: LayerProgram) -> List[Tuple[int, object]]:
    """``(step, key)`` pairs where the output op consumes its inputs (a detector: each level is
    decoded right after its second head is written)."""
    return program.output.consume_steps(program)


def mbconv_min_scratch_bytes(layer: MBConvLayer) -> int:
    """``rp_mbconv_get_min_buffer_size`` (:meth:`MBConvLayer.scratch_bytes` with ``lean``)."""
    return layer.scratch_bytes(lean=True)


def mbconv_in_place_ok(layer: MBConvLayer) -> bool:
    """Whether ``rp_mbconv_s8`` may write its output over its input
    (:meth:`MBConvLayer.in_place_ok`)."""
    return layer.in_place_ok()


def plan_arena(program: LayerProgram, in_place: bool = False) -> ArenaPlan:
    """Plans the arena of a layer program.

    Args:
        program (LayerProgram): The program (shapes are inferred and checked).
        in_place (bool): The memory-lean plan: an op that is its input's last reader writes
            over that input where its ``in_place_ok()`` allows it, and every op gets its lean
            scratch (``scratch_bytes(lean=True)``; a block: a few pixels per pass instead of
            whole rows), then, step by step, its full scratch (fewer, longer passes) wherever
            that leaves the arena no larger. Defaults to False.

    Returns:
        ArenaPlan: offsets, arena size and per-step live bytes.
    """
    if not in_place:
        return _place(program, False, {})
    plan = _place(program, True, {})
    sizes: Dict[int, int] = {}
    for i, step in enumerate(program.steps, start=1):
        full = step.layer.scratch_bytes(lean=False)
        if full <= step.layer.scratch_bytes(lean=True):
            continue
        trial = _place(program, True, {**sizes, i: full})
        if trial.arena_bytes <= plan.arena_bytes:
            plan, sizes = trial, {**sizes, i: full}
    return plan


def _place(program: LayerProgram, in_place: bool, scratch_of: Dict[int, int]) -> ArenaPlan:
    """:func:`plan_arena` with step ``i``'s scratch ``scratch_of[i]`` bytes where given."""
    shapes = program.infer_shapes()
    program.validate()
    n_steps = len(program.steps) + 1
    buffers: Dict[str, Buffer] = {}

    def nbytes(name: str) -> int:
        h, w, c = shapes[name]
        return align4(h * w * c)

    buffers[program.stream.output] = Buffer(program.stream.output, nbytes(program.stream.output),
                                            0, 0)
    scratch = program.stream.scratch_bytes
    buffers['scratch:stream'] = Buffer('scratch:stream', align4(scratch), 0, 0)
    for i, step in enumerate(program.steps, start=1):
        for name in step.inputs:
            buffers[name].end = max(buffers[name].end, i)
        buffers[step.output] = Buffer(step.output, nbytes(step.output), i, i)
        size = scratch_of.get(i, step.layer.scratch_bytes(lean=in_place))
        if size:
            key = f'scratch:{step.layer.name}'
            buffers[key] = Buffer(key, align4(size), i, i)
    order = program.output.consume_steps(program)
    for step_index, key in order:
        for name in program.output.inputs_at(key):
            if name in buffers:  # streamed sinks' inputs never exist whole
                buffers[name].end = max(buffers[name].end, step_index)

    # in-place groups: a block's output joins its input's group when the block is the input's
    # last reader and the row order makes the overwrite safe
    group_of: Dict[str, str] = {name: name for name in buffers}
    if in_place:
        for i, step in enumerate(program.steps, start=1):
            src = step.inputs[0] if step.inputs else None
            if (len(step.inputs) == 1 and buffers[src].end == i and
                    step.layer.in_place_ok()):
                buffers[step.output].alias_of = src
                group_of[step.output] = group_of[src]
    # a placement unit is a group of tensors at one offset; its extent at step t is the largest
    # member live at t (an in-place chain shrinks as its maps do)
    units: Dict[str, Dict[int, int]] = {}
    for name, buf in buffers.items():
        ext = units.setdefault(group_of[name], {})
        for t in range(buf.start, buf.end + 1):
            ext[t] = max(ext.get(t, 0), buf.size)
    offsets: Dict[str, int] = {}
    placed: List[Tuple[int, Dict[int, int]]] = []
    for root, ext in sorted(units.items(), key=lambda u: (-max(u[1].values()), min(u[1]), u[0])):
        if max(ext.values()) == 0:
            offsets[root] = 0
            continue
        candidates = sorted({0} | {_align(o + size) for o, e in placed for size in e.values()})
        for cand in candidates:  # lowest offset that no overlapping unit uses at any step
            if all(not (cand < o + e[t] and o < cand + size)
                   for o, e in placed for t, size in ext.items() if t in e and e[t]):
                offsets[root] = cand
                break
        placed.append((offsets[root], ext))
    for name, buf in buffers.items():
        buf.offset = offsets[group_of[name]]
    arena = max((o + size for o, e in placed for size in e.values()), default=0)
    live = [sum(e.get(s, 0) for e in units.values()) for s in range(n_steps)]
    names = ['stream'] + [step.layer.name for step in program.steps]
    return ArenaPlan(buffers, _align(arena), live, names, order)


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def stream_steps(program: LayerProgram, n: int) -> LayerProgram:
    """The program with its first ``n`` whole-map steps moved into the streamed front-end.

    Inverted residual blocks, convolutions and L2Norms become stream stages fed by the stage
    that produced their input; a detection level's loc and conf convolutions (both moved, same
    input and window) become a head sink decoded row by row. Exactly one streamed map may still
    be read by the remaining steps (or a remaining detection level): it becomes the map the
    stream writes whole. The replicate padding stays on the stage it belonged to. Layers are
    shared with ``program``, not copied.

    Args:
        program (LayerProgram): The program (typically with no block streamed yet).
        n (int): Steps to move, ``0 <= n <= len(program.steps)``.

    Returns:
        LayerProgram: the new program (shapes inferred and validated).

    Raises:
        ValueError: when the first ``n`` steps cannot all run in the stream, naming the layer.
    """
    if not 0 <= n <= len(program.steps):
        raise ValueError(f'stream cut {n}: the program has {len(program.steps)} steps')
    stream = program.stream
    output = program.output
    stages, srcs = list(stream.stages), list(stream.srcs)
    stage_of = {stream.output: stream.out_index}  # streamed map -> stage
    read_by_output = set(output.input_names())
    pending: dict = {}  # the output op's incomplete sinks
    moved_sinks = set()
    for step in program.steps[:n]:
        layer = step.layer
        if len(step.inputs) != 1 or step.inputs[0] not in stage_of:
            raise ValueError(f'layer {layer.name}: its inputs {step.inputs} are not one '
                             'streamed map')
        src = stage_of[step.inputs[0]]
        if step.output in read_by_output:
            sink = output.stream_sink(step, src, pending)
            moved_sinks.add(step.output)
            if sink is not None:
                stages.append(sink)
                srcs.append(src)
        elif layer.streamable:
            stages.append(layer)
            srcs.append(src)
            stage_of[step.output] = len(stages) - 1
        else:
            raise ValueError(f'layer {layer.name}: a {layer.kind} op cannot run in the stream')
    output.check_sinks_complete(pending)
    rest = program.steps[n:]
    needed = {name for step in rest for name in step.inputs}
    needed |= {name for name in output.input_names() if name not in moved_sinks}
    moved_outputs = {step.output for step in program.steps[:n]}
    lost = sorted((needed & moved_outputs) - set(stage_of))
    if lost:
        raise ValueError(f'tensors {lost} would only exist as rows in the stream')
    whole = sorted(needed & set(stage_of))
    if len(whole) != 1:
        raise ValueError(f'stream cut {n}: {len(whole)} streamed maps {whole} are read whole '
                         'afterwards (exactly one can be)')
    out = whole[0]
    spec = StreamSpec(stream.image_shape, stages, out, stream.pad_bottom, stream.pad_right,
                      srcs, output_stage=stage_of[out], pad_stage=stream.pad_index)
    result = LayerProgram(program.name, spec, list(rest), program.output)
    result.infer_shapes()
    result.validate()
    return result


@dataclass
class StreamSchedule:
    """Result of :func:`plan_schedule`.

    Args:
        program (LayerProgram): The program with the chosen cut.
        plan (ArenaPlan): Its arena plan.
        cut (int): Whole-map steps of the input program moved into the stream.
        candidates (list[tuple[int, int]]): ``(cut, arena bytes)`` of every feasible cut.
    """

    program: LayerProgram
    plan: ArenaPlan
    cut: int
    candidates: List[Tuple[int, int]] = field(default_factory=list)


def plan_schedule(program: LayerProgram, in_place: bool = True,
                  cut: Optional[int] = None) -> StreamSchedule:
    """Decides which layers stream and which maps are held whole, and plans the arena.

    Every feasible cut (:func:`stream_steps`) is planned with :func:`plan_arena`; the one with
    the smallest arena wins (ties: the shorter stream).

    Args:
        program (LayerProgram): The program as exported (front-end up to RNNPool).
        in_place (bool): See :func:`plan_arena`. Defaults to True.
        cut (int, optional): Force this cut instead (0 = the program as given). Defaults to
            None.

    Returns:
        StreamSchedule: the chosen program and plan, and every candidate's arena.
    """
    found = []
    for n in range(len(program.steps) + 1) if cut is None else [cut]:
        try:
            candidate = stream_steps(program, n)
        except ValueError:
            if cut is not None:
                raise
            continue
        found.append((n, candidate, plan_arena(candidate, in_place=in_place)))
    n, best, plan = min(found, key=lambda f: (f[2].arena_bytes, f[0]))
    return StreamSchedule(best, plan, n, [(f[0], f[2].arena_bytes) for f in found])


def describe_schedule(schedule: StreamSchedule) -> dict:
    """The schedule as plain data (for report.json): streamed stages with their rings, the map
    written whole by the stream, whole-map layers and tensors, every candidate cut.

    Args:
        schedule (StreamSchedule): What :func:`plan_schedule` returned.

    Returns:
        dict: ``stream_stages``, ``stream_output``, ``whole_map_steps``, ``whole_maps``,
        ``stream_scratch_bytes``, ``cut``, ``candidates``.
    """
    program, plan = schedule.program, schedule.plan
    spec = program.stream
    stages = []
    for i, (stage, src) in enumerate(zip(spec.stages, spec.srcs)):
        h, w, c = stage.in_shape
        rows = stage.ring_rows()
        entry = dict(stage=stage.name, kind=stage.report_kind,
                     src='camera' if src < 0 else spec.stages[src].name, input=[h, w, c],
                     window=list(stage.row_window()), ring_rows=rows,
                     ring_bytes=align4(rows * w * c),
                     output='rows decoded' if not stage.map_output else
                     'whole map' if i == spec.out_index else 'rows')
        if stage.own_ring_bytes():
            entry['expanded_ring_bytes'] = stage.own_ring_bytes()
        stages.append(entry)
    whole = {name: plan.buffers[name].size for name in program.tensor_shapes}
    return dict(cut=schedule.cut, candidates=[list(c) for c in schedule.candidates],
                stream_stages=stages, stream_scratch_bytes=spec.scratch_bytes,
                stream_output=dict(tensor=spec.output, shape=list(spec.out_shape),
                                   bytes=whole[spec.output]),
                whole_map_steps=[step.layer.name for step in program.steps],
                whole_maps={name: dict(shape=list(program.tensor_shapes[name]), bytes=size)
                            for name, size in whole.items()})


def schedule_markdown(info: dict) -> List[str]:
    """report.md lines of :func:`describe_schedule`'s data."""
    lines = ['## Schedule (streamed stages and whole maps)', '',
             f'Streamed: the first {info["cut"]} whole-map layer(s) of the export moved into the '
             f'row stream (arena bytes per feasible cut: '
             + ', '.join(f'{n}: {b:,}' for n, b in info['candidates']) + ').', '',
             '| stream stage | kind | from | input (h, w, c) | window (k, s) | ring rows | ring '
             'bytes | output |', '|---|---|---|---|---|---|---|---|']
    for st in info['stream_stages']:
        ring = f'{st["ring_bytes"]:,}'
        if 'expanded_ring_bytes' in st:
            ring += f' + {st["expanded_ring_bytes"]:,} expanded'
        lines.append(f'| {st["stage"]} | {st["kind"]} | {st["src"]} | '
                     f'{tuple(st["input"])} | {tuple(st["window"])} | {st["ring_rows"]} | '
                     f'{ring} | {st["output"]} |')
    out = info['stream_output']
    lines += ['', f'Stream scratch (rings, head rows, RNNPool and block scratch): '
              f'{info["stream_scratch_bytes"]:,} bytes; map written whole: {out["tensor"]} '
              f'{tuple(out["shape"])} ({out["bytes"]:,} bytes).', '',
              'Whole maps after the stream: ' + ', '.join(
                  f'{name} {tuple(m["shape"])}' for name, m in info['whole_maps'].items()), '']
    return lines


__all__ = [
    'Buffer', 'ArenaPlan', 'plan_arena', 'detect_order', 'mbconv_in_place_ok',
    'mbconv_min_scratch_bytes', 'MBCONV_CHUNK', 'stream_steps', 'StreamSchedule',
    'plan_schedule', 'describe_schedule', 'schedule_markdown'
]
