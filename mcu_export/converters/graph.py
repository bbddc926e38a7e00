"""Traced graph of a layers-only model at the granularity of the registered module types.

The model's own forward runs once on an example input while every *leaf* (a module whose type
has a converter, see :mod:`.base`; its children are not visited) records the tensors it reads
and writes, so the graph follows the model's real data flow (branches, heads, whatever the
forward does between modules) without a second copy of any ``forward``. A module that takes
part in the forward but has no converter is refused by type and path; so is a tensor that
reaches a leaf from an operation outside every module (the forward's own arithmetic), naming
the module whose forward computed it.
"""
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

import torch
import torch.nn as nn

from .base import Node, find_converter, module_where

#: (pattern, replacement) applied in order to a leaf's path to name its program tensor (the
#: first that matches); the default drops the model part (``backbone.``, ``head.`` ...).
TENSOR_NAME_RULES: List[Tuple[str, str]] = []


def register_tensor_names(pattern: str, repl: str) -> None:
    """Adds a naming rule (e.g. ``r'^backbone\\.stem\\.(\\d+)$' -> r'stem\\1'``)."""
    TENSOR_NAME_RULES.append((pattern, repl))


def tensor_name(path: str) -> str:
    for pattern, repl in TENSOR_NAME_RULES:
        if re.match(pattern, path):
            return re.sub(pattern, repl, path)
    parts = path.split('.')
    return '.'.join(parts[1:]) if len(parts) > 1 else path


def _hwc(t: torch.Tensor) -> Tuple[int, int, int]:
    if t.dim() == 4:
        return (int(t.shape[2]), int(t.shape[3]), int(t.shape[1]))
    if t.dim() == 2:
        return (1, 1, int(t.shape[1]))
    raise ValueError(f'tensor of shape {tuple(t.shape)} (only NCHW maps and NC vectors)')


def _flatten(value) -> List[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flatten(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _flatten(v)]
    return []


@dataclass
class ModelGraph:
    """Leaf calls in execution order and the model's outputs.

    Args:
        nodes (list[Node]): The leaves, in call order.
        outputs (list[tuple[int, int]]): ``(node, output slot)`` of each model output.
        input_shape (tuple): ``(h, w, c)`` of the traced input.
    """

    nodes: List[Node]
    outputs: List[Tuple[int, int]]
    input_shape: Tuple[int, int, int]

    def plan(self) -> List[Tuple[str, str, List[str]]]:
        """The mapping plan: ``(converter kind, tensor name, input tensor names)`` per node."""
        name = {-1: 'input'}
        name.update({n.index: n.name for n in self.nodes})
        return [(n.kind, n.name, [name[i] for i in n.inputs]) for n in self.nodes]

    def kinds(self) -> List[str]:
        return [n.kind for n in self.nodes]

    def find(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


PASS_THROUGH = (nn.Sequential, nn.ModuleList, nn.Identity)


def leaf_modules(root: nn.Module) -> Tuple[Dict[str, nn.Module], Dict[str, nn.Module]]:
    """``(leaves, unsupported)``: modules with a converter (not inside another one) and the
    childless modules without one (refused if the forward calls them), by path."""
    leaves, unsupported = {}, {}

    def visit(module, path):
        if path and find_converter(module) is not None:
            leaves[path] = module
            return
        children = list(module.named_children())
        # an empty Sequential / nn.Identity hands its input on unchanged: nothing to map
        if not children and path and not isinstance(module, PASS_THROUGH):
            unsupported[path] = module
        for name, child in children:
            visit(child, f'{path}.{name}' if path else name)

    visit(root, '')
    return leaves, unsupported


def _part_type(root: nn.Module, path: str) -> str:
    top = path.split('.')[0]
    mod = getattr(root, top, None)
    return f'{top} {type(mod).__name__}' if mod is not None and top != path else ''


def trace_graph(root: nn.Module, forward: Callable[[torch.Tensor], Any],
                example: torch.Tensor) -> ModelGraph:
    """Traces ``forward(example)`` (the layers-only model under ``root``) into a graph.

    Args:
        root (nn.Module): The model owning every module ``forward`` runs (paths are relative
            to it).
        forward (callable): The layers-only computation (image batch -> outputs).
        example (torch.Tensor): ``(1, c, h, w)`` input.

    Returns:
        ModelGraph: the leaves in call order with their producers and shapes.

    Raises:
        ValueError: one line naming the first unsupported module (type and path), a leaf a
            converter refuses, or a tensor computed outside the supported modules.
    """
    leaves, unsupported = leaf_modules(root)
    for path, module in leaves.items():
        try:
            find_converter(module).check(module, module_where(path))
        except ValueError as err:
            part = _part_type(root, path)
            raise ValueError(f'{err}; part of {part}' if part else str(err)) from None
    producer: Dict[int, Tuple[int, int]] = {id(example): (-1, 0)}
    version: Dict[int, int] = {id(example): example._version}  # in-place ops bump it
    keep: List[torch.Tensor] = [example]  # ids stay unique while the tensors live
    nodes: List[Node] = []
    depth = [0]
    called = set()
    patched: List[Tuple[nn.Module, str]] = []

    def leaf_call(path, module, method, orig):
        def call(*args, **kwargs):
            if depth[0]:
                return orig(*args, **kwargs)
            if path in called:
                raise ValueError(f'{module_where(path)}: called more than once in the forward '
                                 '(shared weights); not supported')
            called.add(path)
            ins = _flatten(args) + _flatten(kwargs)
            inputs, slots = [], []
            for t in ins:
                if id(t) not in producer or t._version != version[id(t)]:
                    parent = path.rsplit('.', 1)[0] if '.' in path else ''
                    owner = (f'{module_where(parent)} ({type(root.get_submodule(parent)).__name__})'
                             if parent else type(root).__name__)
                    how = 'computed' if id(t) not in producer else 'modified in place'
                    raise ValueError(f'{module_where(path)}: its input is {how} by a tensor '
                                     f'operation in the forward of {owner}, outside the '
                                     'supported modules; not supported')
                node, slot = producer[id(t)]
                inputs.append(node)
                slots.append(slot)
            depth[0] += 1
            try:
                out = orig(*args, **kwargs)
            finally:
                depth[0] -= 1
            outs = _flatten(out)
            index = len(nodes)
            for slot, t in enumerate(outs):
                producer[id(t)] = (index, slot)
                version[id(t)] = t._version
                keep.append(t)
            nodes.append(Node(index, path, module, find_converter(module), inputs,
                              [_hwc(t) for t in ins], [_hwc(t) for t in outs],
                              tensor_name(path), method, slots))
            return out
        return call

    def refuse_call(path, module):
        def call(*args, **kwargs):
            if depth[0]:
                return type(module).forward(module, *args, **kwargs)
            part = _part_type(root, path)
            where = f'; part of {part}' if part else ''
            raise ValueError(f'{module_where(path)}: {type(module).__name__} is not supported '
                             f'by the exporter (no converter for it{where})')
        return call

    try:
        for path, module in leaves.items():
            for method in find_converter(module).methods:
                if hasattr(module, method):
                    orig = getattr(module, method)
                    setattr(module, method, leaf_call(path, module, method, orig))
                    patched.append((module, method))
        for path, module in unsupported.items():
            setattr(module, 'forward', refuse_call(path, module))
            patched.append((module, 'forward'))
        with torch.no_grad():
            result = forward(example)
    finally:
        for module, method in patched:
            try:
                delattr(module, method)
            except AttributeError:
                pass
    outputs = []
    for t in _flatten(result):
        if id(t) not in producer or t._version != version[id(t)]:
            raise ValueError(f'{type(root).__name__}: an output is computed outside the '
                             'supported modules; not supported')
        outputs.append(producer[id(t)])
    graph = ModelGraph(nodes, outputs, _hwc(example))
    from .fuse import fuse_conv_bn_act
    fuse_conv_bn_act(graph)
    return graph


__all__ = ['ModelGraph', 'trace_graph', 'leaf_modules', 'tensor_name', 'register_tensor_names',
           'TENSOR_NAME_RULES']
