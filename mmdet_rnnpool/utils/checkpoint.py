"""Reading checkpoints and checking that their weights fit a model, for every tool.

MMEngine loads a checkpoint non-strictly: a checkpoint of another model (missing, unexpected or
mis-shaped keys) only warns, and the tool then runs with random weights. Testing, drawing and
exporting need the weights they were given, so those tools load through
:func:`load_checkpoint_checked`, which refuses a checkpoint that does not fit in one line naming
the file, the counts and the first keys (``allow_partial=True``, the tools'
``--allow-partial-checkpoint``, loads what fits on purpose). Training's ``load_from`` keeps
MMEngine's behaviour (fine-tuning from another model is legitimate); :func:`describe_fit`
gives its one-line summary.

A file torch cannot read (truncated, not a torch file) or refuses to read (it holds pickled code:
``torch.load``'s ``weights_only`` loader) is a :class:`CheckpointError` naming the file and the
reason in one line.
"""
import os.path as osp
import pickle
import re
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

#: How many keys a one-line message names per kind.
KEYS_SHOWN = 3

#: The tools' flag that loads a checkpoint that does not fit (documented in the README).
ALLOW_PARTIAL_FLAG = '--allow-partial-checkpoint'

_REMOTE = ('http://', 'https://', 's3://', 'pavi://', 'open-mmlab://', 'torchvision://',
           'mmcls://', 'openmmlab://', 'modelzoo://')


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not fit the model (one-line message)."""


def _reason(err: BaseException) -> str:
    """The informative line of a torch loading error (torch's messages span many lines)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:  # the weights_only refusal names the global it would have to import
        match = re.search(r'(GLOBAL [\w.]+)', line)
        if match:
            return f'it holds pickled code or objects ({match.group(1)}), refused by ' \
                   "torch.load's weights_only loader"
    for line in lines:
        if 'WeightsUnpickler error' in line:
            return line.split('WeightsUnpickler error:', 1)[-1].strip()
    return f'{type(err).__name__}: {lines[0] if lines else "no message"}'


def read_checkpoint(path: str, map_location: str = 'cpu') -> dict:
    """Read a checkpoint file under torch's safe (``weights_only``) loader.

    Args:
        path (str): Local file (or a URL MMEngine's loader knows).
        map_location (str): Device to map tensors to. Defaults to 'cpu'.

    Returns:
        dict: The checkpoint (a plain state dict is wrapped as ``{'state_dict': ...}``).

    Raises:
        FileNotFoundError: The file does not exist.
        CheckpointError: It cannot be read, is refused, or holds no weights.
    """
    remote = isinstance(path, str) and path.startswith(_REMOTE)
    if not remote and not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    try:
        if remote:
            from mmengine.runner.checkpoint import _load_checkpoint
            checkpoint = _load_checkpoint(path, map_location=map_location)
        else:
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f'checkpoint {path}: not loaded: {_reason(err)}') from None
    except (RuntimeError, OSError, EOFError, ValueError, AttributeError, ImportError) as err:
        raise CheckpointError(f'checkpoint {path}: unreadable (truncated, corrupt or not a '
                              f'PyTorch file): {_reason(err)}') from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'checkpoint {path}: holds a {type(checkpoint).__name__}, not a '
                              'dict of weights')
    if 'state_dict' not in checkpoint:
        checkpoint = {'state_dict': checkpoint}
    state_dict = checkpoint['state_dict']
    if not isinstance(state_dict, dict) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f'checkpoint {path}: its state_dict is not a dict of tensors')
    if not state_dict:
        raise CheckpointError(f'checkpoint {path}: its state_dict is empty')
    return checkpoint


def model_state_dict(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """The checkpoint's weights with a ``module.`` (DataParallel) prefix removed, as MMEngine."""
    return {re.sub(r'^module\.', '', k): v for k, v in checkpoint['state_dict'].items()}


def _unwrap(model: nn.Module) -> nn.Module:
    # As MMEngine's Runner.load_checkpoint: the weights of a DDP wrapper or a test-time
    # augmentation model (tools/test.py --tta) belong to its inner module.
    from mmengine.model import BaseTTAModel, is_model_wrapper
    return model.module if is_model_wrapper(model) or isinstance(model, BaseTTAModel) else model


def _shape(t: torch.Tensor) -> str:
    return 'x'.join(map(str, t.shape)) or 'scalar'


@dataclass
class WeightsFit:
    """How a state dict fits a model: which of the model's weights it leaves out and why."""
    total: int
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mis_shaped: List[Tuple[str, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mis_shaped)

    @property
    def loaded(self) -> int:
        return self.total - len(self.missing) - len(self.mis_shaped)

    def describe(self) -> str:
        """One line: counts and the first :data:`KEYS_SHOWN` keys of each kind."""
        def first(keys):
            more = f', ... {len(keys) - KEYS_SHOWN} more' if len(keys) > KEYS_SHOWN else ''
            return ', '.join(keys[:KEYS_SHOWN]) + more

        parts = []
        if self.missing:
            parts.append(f'{len(self.missing)} missing ({first(self.missing)})')
        if self.unexpected:
            parts.append(f'{len(self.unexpected)} unexpected ({first(self.unexpected)})')
        if self.mis_shaped:
            parts.append(f'{len(self.mis_shaped)} mis-shaped (' + first(
                [f'{k}: checkpoint {c}, model {m}' for k, c, m in self.mis_shaped]) + ')')
        return (f'{self.loaded} of {self.total} model weights fit; ' + '; '.join(parts)
                if parts else f'all {self.total} model weights fit')


def check_fit(model: nn.Module, state_dict: Dict[str, torch.Tensor]) -> WeightsFit:
    """Compare ``state_dict`` with the model's own (parameters and persistent buffers)."""
    own = _unwrap(model).state_dict()
    fit = WeightsFit(total=len(own))
    for key, value in own.items():
        if key not in state_dict:
            fit.missing.append(key)
        elif tuple(state_dict[key].shape) != tuple(value.shape):
            fit.mis_shaped.append((key, _shape(state_dict[key]), _shape(value)))
    fit.unexpected = [key for key in state_dict if key not in own]
    return fit


def describe_fit(model: nn.Module, path: str) -> str:
    """One-line summary of what of ``path`` a model does not take (for training's load_from)."""
    fit = check_fit(model, model_state_dict(read_checkpoint(path)))
    return f'load_from {path}: {fit.describe()}' + (
        '' if fit.ok else ' (not loaded; MMEngine keeps the initial weights there)')


def check_checkpoint_fits(model: nn.Module, path: str, allow_partial: bool = False,
                          checkpoint: Optional[dict] = None) -> WeightsFit:
    """Raise :class:`CheckpointError` unless ``path``'s weights fit ``model`` exactly.

    Args:
        model (nn.Module): The model (a wrapper is unwrapped).
        path (str): The checkpoint file.
        allow_partial (bool): Warn in one line instead of raising. Defaults to False.
        checkpoint (dict, optional): ``path`` already read. Defaults to None (read it).

    Returns:
        WeightsFit: The comparison.
    """
    checkpoint = read_checkpoint(path) if checkpoint is None else checkpoint
    fit = check_fit(model, model_state_dict(checkpoint))
    if not fit.ok:
        message = f'checkpoint {path} does not fit the model: {fit.describe()}'
        if not allow_partial:
            raise CheckpointError(f'{message}; pass {ALLOW_PARTIAL_FLAG} to load what fits')
        warnings.warn(f'{message} ({ALLOW_PARTIAL_FLAG}: loading what fits)', stacklevel=2)
    return fit


def load_checkpoint_checked(model: nn.Module, path: str, allow_partial: bool = False) -> dict:
    """Read ``path``, check that it fits ``model`` and load it.

    Args:
        model (nn.Module): The model.
        path (str): The checkpoint file.
        allow_partial (bool): Load the weights that fit (name and shape) and leave the rest,
            with a one-line warning, instead of raising. Defaults to False.

    Returns:
        dict: The checkpoint (its ``meta`` holds e.g. ``dataset_meta``).
    """
    checkpoint = read_checkpoint(path)
    check_checkpoint_fits(model, path, allow_partial, checkpoint=checkpoint)
    module = _unwrap(model)
    own = module.state_dict()
    weights = {k: v for k, v in model_state_dict(checkpoint).items()
               if k in own and tuple(v.shape) == tuple(own[k].shape)}
    module.load_state_dict(weights, strict=not allow_partial)
    return checkpoint


def init_detector_checked(config, checkpoint: str, device: str = 'cpu',
                          allow_partial: bool = False) -> nn.Module:
    """``mmdet.apis.init_detector`` with the checkpoint loaded by :func:`load_checkpoint_checked`.

    The model's ``dataset_meta`` comes from the checkpoint's meta, as ``init_detector`` sets it.
    """
    from mmdet.apis import init_detector
    from mmdet.evaluation import get_classes

    with warnings.catch_warnings():  # 'checkpoint is None, use COCO classes': set below
        warnings.simplefilter('ignore')
        model = init_detector(config, None, device='cpu')
    loaded = load_checkpoint_checked(model, checkpoint, allow_partial)
    meta = loaded.get('meta') or {}
    if 'dataset_meta' in meta:
        model.dataset_meta = {k.lower(): v for k, v in meta['dataset_meta'].items()}
    elif 'CLASSES' in meta:
        model.dataset_meta = {'classes': meta['CLASSES']}
    else:
        model.dataset_meta = {'classes': get_classes('coco')}
    return model.to(device).eval()
