"""From a traced, calibrated graph to a :class:`LayerProgram`: convert every node, order the
ops so that side branches (a level's source layers and head) run as soon as their input exists,
and split the program into the streamed front-end and the whole-map steps.

The stream is everything up to the first RNNPool (and the replicate pad after it) plus the
branches that leave that front-end before the RNNPool (Face-Quant's stride-2 detection source:
its layers become stream stages and its head a row-by-row head sink); the planner may later move
more whole-map layers into it.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from ..ir import LayerProgram, ProgramStep, StreamHead, StreamSpec
from .base import ConvertContext, Mapped
from .graph import ModelGraph

CAMERA = 'input'


@dataclass
class MappedModel:
    """Every converted op in the graph's order, wired by tensor names.

    Args:
        items (list[Mapped]): The ops.
        outputs (list[str]): The model outputs' tensor names.
        extras (dict): What converters left for the program (``detect``, ``geometry``).
    """

    items: List[Mapped]
    outputs: List[str]
    extras: Dict[str, object] = field(default_factory=dict)


def map_graph(graph: ModelGraph, ctx: ConvertContext) -> MappedModel:
    """Runs every node's converter (in call order) into ops."""
    ctx.tensor_of[(-1, 0)] = CAMERA
    ctx.shapes[CAMERA] = graph.input_shape
    items: List[Mapped] = []
    for node in graph.nodes:
        for slot, shape in enumerate(node.out_shapes):
            ctx.tensor_of[(node.index, slot)] = node.name
        ctx.shapes[node.name] = node.out_shapes[0] if node.out_shapes else None
        for m in node.converter.convert(node, ctx):
            m.kind = m.kind or node.kind
            items.append(m)
    outputs = [ctx.tensor_of[o] for o in graph.outputs]
    return MappedModel(items, outputs, dict(ctx.extras))


def _resolve_pads(items: List[Mapped]) -> Tuple[List[Mapped], Dict[str, Tuple[int, int, str]]]:
    """Drops the pad items, renaming their outputs to their inputs: ``{padded producer
    tensor: (bottom, right, pad item output)}``."""
    alias, pads, kept = {}, {}, []
    for m in items:
        if m.role == 'pad':
            src = alias.get(m.inputs[0], m.inputs[0])
            pads[src] = (m.op[0], m.op[1], m.output)
            alias[m.output] = src
            continue
        m.inputs = [alias.get(t, t) for t in m.inputs]
        kept.append(m)
    return kept, pads


def schedule(items: List[Mapped]) -> List[Mapped]:
    """A topological order that decodes the detection levels as early as possible: among the
    ready ops the one leading to the lowest detection level (then the one with the fewest
    descendants, then graph order), so that a level's source layers and head run right after
    their stage and their maps die early."""
    producer = {m.output: i for i, m in enumerate(items)}
    consumers: Dict[int, List[int]] = {i: [] for i in range(len(items))}
    deps = []
    for i, m in enumerate(items):
        d = {producer[t] for t in m.inputs if t in producer}
        deps.append(d)
        for j in d:
            consumers[j].append(i)
    desc: Dict[int, set] = {}
    level: Dict[int, float] = {}  # lowest detection level an op leads to
    for i in reversed(range(len(items))):
        s = set()
        lv = items[i].level if items[i].role == 'head' else float('inf')
        for c in consumers[i]:
            s |= {c} | desc[c]
            lv = min(lv, level[c])
        desc[i], level[i] = s, lv
    done, order = set(), []
    while len(order) < len(items):
        ready = [i for i in range(len(items)) if i not in done and deps[i] <= done]
        i = min(ready, key=lambda k: (level[k], len(desc[k]), k))
        done.add(i)
        order.append(items[i])
    return order


def _split_stream(items: List[Mapped]):
    """``(stem items, the RNNPool item, front-end branch items, whole-map items)``."""
    pool = next((i for i, m in enumerate(items) if m.kind == 'rnnpool'), None)
    if pool is None:
        raise ValueError('the exporter streams the front-end up to the first RNNPool; the model '
                         'has none')
    producer = {m.output: i for i, m in enumerate(items)}
    ancestors, todo = set(), [pool]
    while todo:
        for t in items[todo.pop()].inputs:
            if t in producer and producer[t] not in ancestors:
                ancestors.add(producer[t])
                todo.append(producer[t])
    after = {pool}
    for i, m in enumerate(items):
        if any(producer.get(t) in after for t in m.inputs):
            after.add(i)
    stem = [items[i] for i in sorted(ancestors)]
    branch = [m for i, m in enumerate(items) if i not in ancestors and i not in after]
    rest = [m for i, m in enumerate(items) if i in after and i != pool]
    return stem, items[pool], branch, rest


def assemble(mapped: MappedModel, name: str, image_shape, output=None) -> LayerProgram:
    """The program of a mapped model: stream + whole-map steps + output op.

    Args:
        mapped (MappedModel): The converted ops.
        name (str): Program name.
        image_shape (tuple): Camera ``(h, w, c)``.
        output: The output op (``DetectSpec`` of a detector, the ``classify`` op of a
            classifier). Defaults to ``mapped.extras['detect']``.
    """
    items, pads = _resolve_pads(mapped.items)
    outputs = [m for m in items if m.role == 'output']
    items = [m for m in items if m.role != 'output']
    stem, pool, branch, rest = _split_stream(items)
    stages, srcs, index_of = [], [], {CAMERA: -1}
    for m in stem + [pool]:
        stages.append(m.op)
        srcs.append(index_of[m.inputs[0]])
        index_of[m.output] = len(stages) - 1
    out_stage = len(stages) - 1
    pad_b, pad_r, _ = pads.get(pool.output, (0, 0, None))
    heads: Dict[int, Dict[str, Mapped]] = {}
    for m in schedule(branch):
        if m.role == 'head':
            heads.setdefault(m.level, {})[m.output.rsplit('_', 1)[-1]] = m
            pair = heads[m.level]
            if len(pair) == 2:
                stages.append(StreamHead(f'head{m.level}', pair['loc'].op, pair['conf'].op,
                                         m.level))
                srcs.append(index_of[m.inputs[0]])
            continue
        stages.append(m.op)
        srcs.append(index_of[m.inputs[0]])
        index_of[m.output] = len(stages) - 1
    stream = StreamSpec(tuple(image_shape), stages, pool.output, pad_bottom=pad_b,
                        pad_right=pad_r, sources=srcs, output_stage=out_stage)
    steps = [ProgramStep(m.op, list(m.inputs), m.output) for m in schedule(rest)]
    if output is None:
        output = outputs[0].op if outputs else mapped.extras.get('detect')
    program = LayerProgram(name, stream, steps, output)
    program.infer_shapes()
    return program


__all__ = ['MappedModel', 'map_graph', 'schedule', 'assemble', 'CAMERA']
