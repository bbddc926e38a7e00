"""The converter registry: float module type -> ops of the layer program.

A converter turns one *leaf* of the traced graph (see :mod:`.graph`) - a float module of a
registered type - plus the calibrated ranges of its input and output into program ops. Adding a
module type is one class::

    @register_converter(MyBlock)                 # the module type(s) it maps
    class MyBlockConverter(Converter):
        kind = 'myblock'                         # the node's label in the mapping plan
        def check(self, module, where): ...      # ValueError naming ``where`` if unsupported
        def observe(self, node): ...             # {tensor name: module} to calibrate
        def convert(self, node, ctx): ...        # -> list of Mapped (op, inputs, output)

The lookup walks the module's MRO, so a subclass of a registered type is converted like its
base unless it registers its own converter.
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch.nn as nn

Shape = Tuple[int, int, int]

#: module type -> converter instance
CONVERTERS: Dict[type, 'Converter'] = {}


def register_converter(*module_types: type):
    """Class decorator: registers a :class:`Converter` subclass for ``module_types``.

    Raises:
        ValueError: A type that already has a converter (one converter per type).
    """
    def wrap(cls):
        inst = cls()
        for t in module_types:
            if t in CONVERTERS:
                raise ValueError(f'converter for {t.__module__}.{t.__qualname__} is already '
                                 f'registered ({type(CONVERTERS[t]).__name__})')
            CONVERTERS[t] = inst
        return cls
    return wrap


def find_converter(module: nn.Module) -> Optional['Converter']:
    """The converter of ``module``'s type or of its nearest registered base class."""
    for t in type(module).__mro__:
        if t in CONVERTERS:
            return CONVERTERS[t]
    return None


def module_where(path: str) -> str:
    """``backbone.stages.0.1.conv`` -> ``backbone.stages[0][1].conv`` (how errors name it)."""
    out = ''
    for part in path.split('.'):
        out += f'[{part}]' if part.isdigit() else (f'.{part}' if out else part)
    return out


@dataclass
class Node:
    """One leaf module call of the traced layers-only model.

    Args:
        index (int): Position in call order.
        path (str): ``named_modules`` path (``backbone.stages.0.1``).
        module (nn.Module): The module.
        converter (Converter): Its converter.
        inputs (list[int]): Producer node of each tensor input (-1 = the model input).
        in_shapes (list[tuple]): ``(h, w, c)`` of each input (``(1, 1, c)`` for vectors).
        out_shapes (list[tuple]): ``(h, w, c)`` of each output.
        name (str): The node's tensor name in the program.
        method (str): The method that was called (``forward`` unless the converter says
            otherwise, e.g. ``forward_layers`` of a detection head).
    """

    index: int
    path: str
    module: nn.Module
    converter: 'Converter'
    inputs: List[int]
    in_shapes: List[Shape]
    out_shapes: List[Shape]
    name: str = ''
    method: str = 'forward'
    input_slots: List[int] = field(default_factory=list)  # output slot of each input

    @property
    def where(self) -> str:
        return module_where(self.path)

    @property
    def kind(self) -> str:
        return self.converter.kind


@dataclass
class Mapped:
    """One op produced by a converter, wired by tensor names.

    Args:
        op (Any): The op (``ConvLayer``, ``MBConvLayer``, ... or a registered op).
        inputs (list[str]): Tensors it reads.
        output (str): Tensor it writes.
        role (str): ``'layer'``; ``'pad'`` (replicate padding of its input by ``op`` =
            ``(bottom, right)`` rows / columns: the stream's pad); ``'head'`` (a detection
            level's loc or conf conv, ``level`` set); ``'output'`` (the program's output op).
        level (int): Detection level of a head conv. Defaults to -1.
    """

    op: Any
    inputs: List[str]
    output: str
    role: str = 'layer'
    level: int = -1
    kind: str = ''  # the producing node's converter kind (set by map_graph)


class Converter:
    """Base class of converters (see the module docstring)."""

    #: label of the node in the mapping plan (e.g. 'conv', 'mbconv', 'rnnpool', 'gap')
    kind: str = ''
    #: methods whose calls make the node (a head called through ``forward_layers``)
    methods: Sequence[str] = ('forward', )

    def check(self, module: nn.Module, where: str) -> None:
        """Raise a one-line ``ValueError`` naming ``where`` if ``module`` cannot be mapped."""

    def observe(self, node: Node) -> Dict[str, nn.Module]:
        """Modules whose float outputs get a calibrated range, by tensor name."""
        return {node.name: node.module}

    def finish_calibration(self, node: Node, ranges: dict, float_maps: List[dict]) -> None:
        """Derive ranges / float maps of tensors no module outputs (e.g. merged convs)."""

    def convert(self, node: Node, ctx: 'ConvertContext') -> List[Mapped]:
        raise NotImplementedError(f'{type(self).__name__}.convert')


@dataclass
class ConvertContext:
    """What a converter needs besides its module.

    Args:
        quant (dict): ``ActQuant`` of every calibrated tensor (filled as nodes convert).
        input_transform (tuple, optional): ``(mean, std, perm)`` folded into the first conv.
        tensor_of (dict): Program tensor name of each node output ``(node index, slot)``;
            ``(-1, 0)`` is the camera input.
        shapes (dict): ``(h, w, c)`` of each program tensor.
        options (dict): Export options (score / NMS thresholds, list sizes ...).
    """

    quant: Dict[str, Any]
    input_transform: Any = None
    tensor_of: Dict[Tuple[int, int], str] = field(default_factory=dict)
    shapes: Dict[str, Shape] = field(default_factory=dict)
    options: Dict[str, Any] = field(default_factory=dict)
    first_conv_done: bool = False
    extras: Dict[str, Any] = field(default_factory=dict)  # e.g. the detection spec, geometry

    def input_names(self, node: Node) -> List[str]:
        return [self.tensor_of[(i, s)] for i, s in zip(node.inputs, node.input_slots)]

    def take_input_transform(self):
        """The folded normalisation, for the first convolution reading the camera only."""
        if self.first_conv_done:
            return None
        self.first_conv_done = True
        return self.input_transform


__all__ = ['CONVERTERS', 'register_converter', 'find_converter', 'module_where', 'Node',
           'Mapped', 'Converter', 'ConvertContext', 'Shape']
