"""Parameters, multiply-adds and peak activation RAM of a model, counted from its module tree.

Everything is measured by running the model once on a zero image with forward hooks; nothing
is read from a table. The conventions follow the RNNPool paper (Saha et al., NeurIPS 2020):

**MAdds.** Multiply-accumulates of the matrix products: a convolution costs
``out_numel * in_channels / groups * kh * kw``, a linear layer ``out_numel * in_features``,
RNNPool its two RNNs per patch, counted as the per-patch algorithm defines them (see
:func:`rnnpool_macs`). Batch norm (folded into the conv at inference), activations, additions
and L2 normalisation are not counted. ``rnn_recurrent_macs`` is the ``U h`` part of the RNN
MAdds, reported apart because the paper's figures match a count without it.

**Peak RAM, layer by layer.** Each block (a conv + BN + activation, an MBConv block, RNNPool, ...)
runs when its input is complete and writes its whole output; the peak is the largest
``input + output`` of any block, in values (multiply by 4 for float32, 1 for int8), except
that some maps never exist whole:

- RNNPool consumes its input patch by patch, so the image and the stem convs before RNNPool
  are computed on the fly for each patch (the paper's Face-Quant figure, 225 KB, is the block
  after RNNPool and needs this); a map RNNPool depends on costs nothing.
- A 1x1 conv (stride 1) whose input feeds nothing else is computed pixel by pixel as its
  producer writes, so the producer's output is replaced by the 1x1 conv's; likewise the
  replicate padding after RNNPool (RNNPool writes into the padded buffer).
- An MBConv block expands one channel at a time, so it costs input + output.
- L2 normalisation and the detection head (``exclude`` prefixes, by default ``bbox_head``)
  run on each pixel of a source as it is read, their outputs being decoded into boxes on the
  fly; they add nothing.

Callers can add block types (``block_kinds``): kind ``'stream'`` is a layer that, like RNNPool,
reads its input patch by patch (the classifiers' early down-sampling layer, whatever it is);
``'dense'`` is a block whose output contains its input (a DenseNet dense block appends to its
input's buffer), costing its output only; ``'block'`` costs input + output like an MBConv block;
``'reduce'`` consumes its input pixel by pixel as it is written (global average pooling), folded
into the producer like a 1x1 conv.
``image_on_the_fly`` lets the first layer read the image as it arrives (a camera's rows), so the
image itself is never held whole.
"""
import dataclasses
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.layers import InvertedResidual
from mmdet.models.necks.ssd_neck import L2Norm
from torch import Tensor

from mmdet_rnnpool.ops import ReNet, RNNPool

#: Table 4 (WIDER FACE, 640 x 480 RGB) and Table 5 (M4, 320 x 240 grey) of the paper. The RAM
#: unit "MB"/"KB" of the paper is MiB/KiB (Face-C's 6.44 MB = 160 x 120 x 88 float32 values).
PAPER_FIGURES: Dict[str, dict] = {
    'rnnpool-face-a': dict(params=0.06e6, madds=0.10e9, peak_ram_bytes=1.17 * 2**20,
                           ram_dtype='float32', input_shape=(3, 480, 640)),
    'rnnpool-face-b': dict(params=1.12e6, madds=1.18e9, peak_ram_bytes=1.76 * 2**20,
                           ram_dtype='float32', input_shape=(3, 480, 640)),
    'rnnpool-face-c': dict(params=1.52e6, madds=1.80e9, peak_ram_bytes=6.44 * 2**20,
                           ram_dtype='float32', input_shape=(3, 480, 640)),
    'rnnpool-face-quant': dict(params=0.07e6, madds=0.12e9, peak_ram_bytes=225 * 2**10,
                               ram_dtype='int8', input_shape=(3, 480, 640)),
    # Table 5 gives no parameter count (only a 160 KB int8 model with sparse RNN weights).
    'rnnpool-face-m4': dict(params=None, madds=70e6, peak_ram_bytes=188 * 2**10,
                            ram_dtype='int8', input_shape=(1, 240, 320)),
}

BYTES_PER_VALUE = {'float32': 4, 'int8': 1}


def variant_of_config(config_path: str) -> Optional[str]:
    """The paper variant a config file name starts with (``rnnpool-face-c_...`` ->
    ``'rnnpool-face-c'``), or None."""
    name = osp.basename(config_path)
    for variant in PAPER_FIGURES:
        if name.startswith(variant + '_'):
            return variant
    return None


def count_parameters(module: nn.Module) -> int:
    """Number of parameter values of ``module`` (BN affine parameters included)."""
    return sum(p.numel() for p in module.parameters())


def rnnpool_macs(rnnpool: RNNPool, in_h: int, in_w: int) -> Tuple[int, int]:
    """MAdds of one RNNPool layer on an ``in_h x in_w`` map, by the per-patch algorithm.

    For each of the ``H_out x W_out`` patches of size ``r x c``: RNN1 runs ``r`` sequences of
    length ``c`` and ``c`` of length ``r`` (``2 r c`` steps), RNN2 runs two sequences of length
    ``r`` and two of length ``c`` (``2 (r + c)`` steps). A step of a cell with ``G`` gate blocks
    (FastGRNN 1, GRU 3, LSTM 4), input ``I`` and hidden ``H`` costs ``G H I`` (``W x``) +
    ``G H H`` (``U h``); every step is counted in full, the first one included.

    Args:
        rnnpool (RNNPool): The layer.
        in_h (int): Input height.
        in_w (int): Input width.

    Returns:
        tuple[int, int]: Total MAdds and the recurrent (``U h``) part of them.
    """
    out_h, out_w = rnnpool.output_size(in_h, in_w)
    rows, cols = rnnpool.kernel_size
    rnn1, rnn2 = rnnpool.rnn1, rnnpool.rnn2
    steps1, steps2 = 2 * rows * cols, 2 * (rows + cols)
    gates1 = rnn1.num_gates * rnn1.hidden_size
    gates2 = rnn2.num_gates * rnn2.hidden_size
    per_patch_input = steps1 * gates1 * rnn1.input_size + steps2 * gates2 * rnn2.input_size
    per_patch_recurrent = steps1 * gates1 * rnn1.hidden_size + steps2 * gates2 * rnn2.hidden_size
    patches = out_h * out_w
    return patches * (per_patch_input + per_patch_recurrent), patches * per_patch_recurrent


def renet_macs(renet: ReNet, in_h: int, in_w: int) -> Tuple[int, int]:
    """MAdds of one ReNet layer on an ``in_h x in_w`` map.

    Each of the ``H' x W'`` grid elements is one step of the two row RNNs (input: the flattened
    ``C p p`` patch, hidden ``h1``) and one step of the two column RNNs (input ``2 h1``, hidden
    ``h2``); a step costs ``G H (I + H)`` as in :func:`rnnpool_macs`.

    Returns:
        tuple[int, int]: Total MAdds and the recurrent (``U h``) part of them.
    """
    out_h, out_w = renet.output_size(in_h, in_w)
    total = recurrent = 0
    for cell in (renet.row_forward, renet.row_backward, renet.col_forward, renet.col_backward):
        gates = cell.num_gates * cell.hidden_size
        total += gates * (cell.input_size + cell.hidden_size)
        recurrent += gates * cell.hidden_size
    return out_h * out_w * total, out_h * out_w * recurrent


@dataclasses.dataclass
class BlockCost:
    """Activation cost of one block under the layer-by-layer convention.

    Attributes:
        name (str): Module name.
        kind (str): ``conv``, ``conv1x1``, ``mbconv``, ``rnnpool``, ``pad``, ``l2norm``,
            ``linear``, ``excluded``, or a caller's ``stream``, ``dense``, ``block``,
            ``reduce``.
        in_values (int): Input values held in RAM (0 when computed on the fly).
        out_values (int): Output values held in RAM (0 when consumed on the fly).
        note (str): Why a side is free, if one is.
    """
    name: str
    kind: str
    in_values: int
    out_values: int
    note: str = ''

    @property
    def values(self) -> int:
        """Input + output values."""
        return self.in_values + self.out_values


@dataclasses.dataclass
class ComplexityReport:
    """What :func:`analyze_complexity` measured.

    Attributes:
        input_shape (tuple[int, int, int]): ``(C, H, W)`` of the image.
        params (int): Parameter values.
        macs (int): Multiply-accumulates.
        rnn_recurrent_macs (int): The ``U h`` part of ``macs``.
        peak_ram_values (int): Largest input + output values of a block.
        peak_block (str): Name of that block.
        blocks (list[BlockCost]): Every counted block, in execution order.
        macs_by_module (dict[str, int]): MAdds per counted leaf module.
    """
    input_shape: Tuple[int, int, int]
    params: int
    macs: int
    rnn_recurrent_macs: int
    peak_ram_values: int
    peak_block: str
    blocks: List[BlockCost]
    macs_by_module: Dict[str, int]

    def peak_ram_bytes(self, dtype: str = 'float32') -> int:
        """Peak RAM in bytes for ``'float32'`` (4 bytes a value) or ``'int8'`` (1 byte)."""
        if dtype not in BYTES_PER_VALUE:
            raise ValueError(f'dtype must be one of {sorted(BYTES_PER_VALUE)}, got {dtype!r}')
        return self.peak_ram_values * BYTES_PER_VALUE[dtype]


_BLOCK_TYPES = (InvertedResidual, ConvModule, RNNPool, ReNet, nn.Conv2d, nn.Linear,
                nn.ReplicationPad2d, L2Norm)
#: Kinds whose input is read patch by patch (everything it depends on is computed on the fly).
_STREAMING_KINDS = ('rnnpool', 'stream')


def _block_kind(module: nn.Module) -> str:
    if isinstance(module, RNNPool):
        return 'rnnpool'
    if isinstance(module, InvertedResidual):
        return 'mbconv'
    if isinstance(module, nn.ReplicationPad2d):
        return 'pad'
    if isinstance(module, L2Norm):
        return 'l2norm'
    if isinstance(module, nn.Linear):
        return 'linear'
    if isinstance(module, ReNet):  # its sweeps cross the whole map: input and output whole
        return 'conv'
    conv = module.conv if isinstance(module, ConvModule) else module
    if tuple(conv.kernel_size) == (1, 1) and tuple(conv.stride) == (1, 1):
        return 'conv1x1'
    return 'conv'


def _find_blocks(model: nn.Module, block_kinds: Sequence[Tuple[type, str]] = ()
                 ) -> List[Tuple[str, nn.Module, Optional[str]]]:
    """Outermost modules of the block types (``block_kinds`` first), in registration order,
    with the kind ``block_kinds`` gives them (None: the built-in rule)."""
    blocks = []

    def visit(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            full = f'{prefix}.{name}' if prefix else name
            kind = next((k for t, k in block_kinds if isinstance(child, t)), None)
            if kind is not None or isinstance(child, _BLOCK_TYPES):
                blocks.append((full, child, kind))
            else:
                visit(full, child)

    visit('', model)
    return blocks


@torch.no_grad()
def analyze_complexity(model: nn.Module,
                       input_shape: Sequence[int],
                       exclude: Sequence[str] = ('bbox_head', 'detector.bbox_head'),
                       block_kinds: Sequence[Tuple[type, str]] = (),
                       image_on_the_fly: bool = False) -> ComplexityReport:
    """Count parameters, MAdds and layer-by-layer peak RAM of ``model`` on one image.

    Args:
        model (nn.Module): A module whose forward takes an ``(1, C, H, W)`` image, e.g.
            :class:`DetectorLayers` around a detector. It is run once, in eval mode, then put
            back in its previous mode.
        input_shape (Sequence[int]): ``(C, H, W)``.
        exclude (Sequence[str]): Module-name prefixes whose outputs are consumed on the fly
            (the detection head): counted in MAdds and parameters, not in peak RAM.
            Defaults to ``('bbox_head', 'detector.bbox_head')``.
        block_kinds (Sequence[tuple[type, str]]): Extra block types and their kinds (see the
            module docstring), checked in order before the built-in types. Defaults to ().
        image_on_the_fly (bool): Never hold the image whole. Defaults to False.

    Returns:
        ComplexityReport: The counts.
    """
    if len(input_shape) != 3 or not all(isinstance(s, int) and s > 0 for s in input_shape):
        raise ValueError(f'input_shape must be (C, H, W) positive ints, got {input_shape!r}')
    exclude = tuple(exclude)
    macs: Dict[str, int] = {}
    recurrent = [0]
    events: List[dict] = []
    handles = []

    def mac_hook(name: str):

        def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            if isinstance(module, (RNNPool, ReNet)):
                count = rnnpool_macs if isinstance(module, RNNPool) else renet_macs
                total, rec = count(module, inputs[0].shape[-2], inputs[0].shape[-1])
                recurrent[0] += rec
            elif isinstance(module, nn.Conv2d):
                kh, kw = module.kernel_size
                total = output.numel() * (module.in_channels // module.groups) * kh * kw
            else:  # nn.Linear
                total = output.numel() * module.in_features
            macs[name] = macs.get(name, 0) + int(total)

        return hook

    def block_hook(name: str, kind: str):

        def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            # A neck takes / returns a tuple of maps: its (first) map stands for it.
            events.append(dict(name=name, kind=kind, input=_first_tensor(inputs),
                               output=_first_tensor(output)))

        return hook

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear, RNNPool, ReNet)):
            handles.append(module.register_forward_hook(mac_hook(name)))
    for name, module, given_kind in _find_blocks(model, tuple(block_kinds)):
        kind = 'excluded' if any(name == p or name.startswith(p + '.') for p in exclude) \
            else given_kind or _block_kind(module)
        handles.append(module.register_forward_hook(block_hook(name, kind)))

    was_training = model.training
    model.eval()
    param = next(model.parameters(), None)
    image = torch.zeros((1, *input_shape),
                        device=param.device if param is not None else 'cpu')
    try:
        outputs = model(image)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    blocks, peak_values, peak_block = _layer_by_layer(image, events, _flatten(outputs),
                                                      image_on_the_fly)
    return ComplexityReport(
        input_shape=tuple(input_shape),
        params=count_parameters(model),
        macs=sum(macs.values()),
        rnn_recurrent_macs=recurrent[0],
        peak_ram_values=peak_values,
        peak_block=peak_block,
        blocks=blocks,
        macs_by_module=macs)


def _first_tensor(value) -> Tensor:
    while isinstance(value, (tuple, list)):
        value = value[0]
    return value


def _flatten(outputs) -> List[Tensor]:
    if isinstance(outputs, Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return [t for item in outputs for t in _flatten(item)]
    return []


def _layer_by_layer(image: Tensor, events: List[dict], outputs: List[Tensor],
                    image_on_the_fly: bool = False) -> Tuple[List[BlockCost], int, str]:
    """Apply the peak-RAM convention (module docstring) to the recorded block calls."""
    producer: Dict[int, int] = {}
    # The model's outputs count as consumed: they must exist whole.
    consumers: Dict[int, int] = {id(t): 1 for t in outputs}
    for index, event in enumerate(events):
        consumers[id(event['input'])] = consumers.get(id(event['input']), 0) + 1
        producer[id(event['output'])] = index

    # The image and everything RNNPool's input depends on are computed patch by patch.
    streamed = {id(image)}
    for position, event in enumerate(events):
        if event['kind'] not in _STREAMING_KINDS:
            continue
        tensor = event['input']
        while id(tensor) not in streamed:
            streamed.add(id(tensor))
            source = producer.get(id(tensor))
            if source is None:
                # Element-wise layers that are no blocks (a bare BN + ReLU after a plain conv,
                # as in ResNet's stem) stand between: the latest earlier block with an output
                # of this shape produced it.
                source = next((i for i in range(position - 1, -1, -1)
                               if events[i]['output'].shape == tensor.shape), None)
                if source is None:
                    break
                streamed.add(id(events[source]['output']))
            position = source
            tensor = events[source]['input']

    # On-the-fly consumers (replicate pad, 1x1 convs) fold into their producer.
    effective_out = [event['output'] for event in events]
    fused = [False] * len(events)
    for index, event in enumerate(events):
        if event['kind'] not in ('pad', 'conv1x1', 'reduce'):
            continue
        source = producer.get(id(event['input']))
        if (source is None or consumers.get(id(event['input'])) != 1
                or events[source]['kind'] in ('excluded', 'l2norm')
                or effective_out[source] is not event['input']):
            continue
        effective_out[source] = event['output']
        producer[id(event['output'])] = source
        fused[index] = True

    blocks: List[BlockCost] = []
    peak_values, peak_block = 0, ''
    for index, event in enumerate(events):
        if fused[index] or event['kind'] in ('excluded', 'l2norm'):
            continue
        out = effective_out[index]
        in_free = id(event['input']) in streamed or event['kind'] == 'dense' or (
            image_on_the_fly and event['input'] is image)
        out_free = id(out) in streamed
        note = []
        if event['kind'] == 'dense':
            note.append('input inside the output buffer')
        elif in_free:
            note.append('input on the fly')
        if out_free:
            note.append('output on the fly (consumed by RNNPool patches)')
        cost = BlockCost(
            name=event['name'],
            kind=event['kind'],
            in_values=0 if in_free else event['input'].numel(),
            out_values=0 if out_free else out.numel(),
            note=', '.join(note))
        blocks.append(cost)
        if cost.values > peak_values:
            peak_values, peak_block = cost.values, cost.name
    return blocks, peak_values, peak_block
