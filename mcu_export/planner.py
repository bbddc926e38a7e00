"""Static arena planner: liveness-based offsets for every tensor and scratch buffer.

Steps are numbered 0 (the streamed front-end) and 1..N (the whole-map layers). A tensor lives
from the step that writes it to the last step that reads it (a head tensor until its detection
level is decoded); a scratch buffer lives during its own step. Buffers whose lifetimes overlap
never share bytes (no kernel runs in place). Placement is greedy best-fit by decreasing size;
the planner's peak is the arena size the generated code needs.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from .ir import LayerProgram, align4, layer_scratch_bytes

ALIGNMENT = 4


@dataclass
class Buffer:
    """One arena buffer.

    Args:
        name (str): Tensor name or ``scratch:<layer>``.
        size (int): Bytes.
        start (int): First step that uses it.
        end (int): Last step that uses it.
        offset (int): Arena offset (filled by the planner). Defaults to -1.
    """

    name: str
    size: int
    start: int
    end: int
    offset: int = -1


@dataclass
class ArenaPlan:
    """Result of :func:`plan_arena`.

    Args:
        buffers (dict[str, Buffer]): Buffers by name.
        arena_bytes (int): Planned arena size (peak of offset + size).
        live_bytes (list[int]): Bytes live during each step (a lower bound of the arena).
        step_names (list[str]): Name of each step.
        detect_steps (list[tuple[int, int]]): ``(step, level index)`` in decoding order.
    """

    buffers: Dict[str, Buffer]
    arena_bytes: int
    live_bytes: List[int]
    step_names: List[str]
    detect_steps: List[Tuple[int, int]] = field(default_factory=list)


def detect_order(program: LayerProgram) -> List[Tuple[int, int]]:
    """``(step, level)`` pairs: each level is decoded right after its second head is written."""
    streamed = [head.level for head in program.stream.heads]
    produced = {program.stream.output: 0}
    for i, step in enumerate(program.steps):
        produced[step.output] = i + 1
    order = []
    for index, lv in enumerate(program.detect.levels):
        if index not in streamed:
            order.append((max(produced[lv.loc], produced[lv.conf]), index))
    order.sort()
    return [(0, level) for level in streamed] + order


def plan_arena(program: LayerProgram) -> ArenaPlan:
    """Plans the arena of a layer program.

    Args:
        program (LayerProgram): The program (shapes are inferred and checked).

    Returns:
        ArenaPlan: offsets, arena size and per-step live bytes.
    """
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
        size = layer_scratch_bytes(step.layer)
        if size:
            key = f'scratch:{step.layer.name}'
            buffers[key] = Buffer(key, align4(size), i, i)
    order = detect_order(program)
    for step_index, level_index in order:
        lv = program.detect.levels[level_index]
        for name in (lv.loc, lv.conf):
            if name in buffers:  # streamed heads never exist whole
                buffers[name].end = max(buffers[name].end, step_index)

    placed: List[Buffer] = []
    for buf in sorted(buffers.values(), key=lambda b: (-b.size, b.start, b.name)):
        if buf.size == 0:
            buf.offset = 0
            continue
        busy = sorted((b.offset, b.offset + b.size) for b in placed
                      if b.start <= buf.end and buf.start <= b.end)
        best, best_gap, cursor = None, None, 0
        for lo, hi in busy:
            gap = lo - cursor
            if gap >= buf.size and (best_gap is None or gap < best_gap):
                best, best_gap = cursor, gap
            cursor = max(cursor, _align(hi))
        buf.offset = best if best is not None else cursor
        placed.append(buf)
    arena = max((b.offset + b.size for b in placed), default=0)
    live = [sum(b.size for b in buffers.values() if b.start <= s <= b.end) for s in range(n_steps)]
    names = ['stream'] + [step.layer.name for step in program.steps]
    return ArenaPlan(buffers, _align(arena), live, names, order)


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


__all__ = ['Buffer', 'ArenaPlan', 'plan_arena', 'detect_order']
