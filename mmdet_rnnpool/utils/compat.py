"""Fixes for the known breakages of mmengine 0.10.7 / mmcv 2.1.0 / mmdet 3.3.0 on torch 2.14.

Every fix here is applied at import time by :func:`apply_compat_patches` (called from
``mmdet_rnnpool/__init__.py``), is idempotent, touches no file in site-packages, and has a test in
``tests/test_utils/test_compat.py`` that fails without it.

1. **Checkpoints under ``weights_only``.** Since torch 2.6, ``torch.load`` defaults to
   ``weights_only=True`` and refuses any pickled global that is not allow-listed. mmengine saves
   its own objects in every checkpoint (``HistoryBuffer`` in the message hub, NumPy scalars and
   arrays in the log history), so a Runner cannot resume the checkpoint it just wrote. We keep
   the safe loader and allow-list exactly those types with
   ``torch.serialization.add_safe_globals`` (``getattr`` only through a stand-in that returns
   ``HistoryBuffer``'s statistics methods) - never ``weights_only=False``, which would unpickle
   arbitrary code from a downloaded file.
2. **``SSDHead`` predict crash.** mmdet 3.3.0's ``BaseDenseHead._predict_by_feat_single`` reads
   ``self.loss_cls``, which ``SSDHead`` never defines (it computes its loss inline), so every
   SSD-style head raises ``AttributeError`` at test time. We give SSD heads ``loss_cls = None``
   after construction, which is what the base class' ``getattr(..., False)`` check expects.
3. **``_base_ = 'mmdet::...'`` without ``pkg_resources``.** mmengine resolves package-relative
   config paths with ``pkg_resources``, which setuptools 82 removed. We route
   ``is_installed`` / ``get_installed_path`` through ``importlib`` instead.
4. **Distributed training without a GPU.** mmengine's PyTorch launcher calls
   ``torch.cuda.set_device`` (an ``AttributeError`` on CPU builds) and wraps the model in DDP with
   ``device_ids=[LOCAL_RANK]`` (which DDP rejects for CPU modules). Without CUDA we skip the
   device selection, fall back from ``nccl`` to ``gloo``, and pass ``device_ids=None``.
5. **ONNX export drops small constants (onnxscript 0.7).** ``torch.onnx.export(..., dynamo=True,
   optimize=True)`` runs onnxscript's rewriter, whose no-op rules (``x + 0``, ``x - 0``,
   ``x * 1``, ``x / 1`` -> ``x``) match any scalar within ``abs_tol=1e-8`` / ``rel_tol=1e-5`` of
   0 or 1. mmdet's ``L2Norm`` divides by ``sqrt(sum x^2) + 1e-10``: the rule deletes the
   ``+ 1e-10``, and wherever a feature vector is all zero (ReLU outputs; the top rows of
   Face-Quant's first source on real photographs) the ONNX model computes 0 / 0 = NaN where
   PyTorch gives 0. We make those rules match exactly 0 / 1. Applied by
   :func:`apply_onnx_export_patches` (the ONNX exporters call it; importing onnxscript takes
   ~1.5 s, too long for every ``import mmdet_rnnpool``).
"""
import importlib.metadata
import importlib.util
import os.path as osp
import pickle

_applied = False


def _checkpoint_safe_globals() -> list:
    """Types mmengine pickles into the checkpoints it writes (and nothing else)."""
    import numpy as np
    from mmengine.logging import HistoryBuffer

    safe = [HistoryBuffer, np.ndarray, np.dtype]
    # np.core.multiarray._reconstruct rebuilds pickled arrays; scalar() rebuilds NumPy scalars.
    try:  # NumPy 2 moved the module; 1.x has only a stub numpy._core
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    safe += [multiarray._reconstruct, multiarray.scalar]
    # Concrete dtype classes (np.dtypes.Float64DType, ...) are pickled by reference since NumPy 1.25.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return safe


def _history_buffer_getattr(obj, name):
    """``getattr`` as pickle uses it for ``HistoryBuffer``'s statistics methods - and only that.

    ``HistoryBuffer.__getstate__`` pickles its statistics methods (``HistoryBuffer.min``, ...),
    which pickle writes as ``getattr(HistoryBuffer, 'min')``. Allow-listing the builtin
    ``getattr`` would let a checkpoint reach any attribute of any allow-listed object; this
    stand-in only returns public methods of ``HistoryBuffer`` classes.
    """
    from mmengine.logging import HistoryBuffer

    if isinstance(obj, type) and issubclass(obj, HistoryBuffer) and not name.startswith('_'):
        value = getattr(obj, name)
        if callable(value):
            return value
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer statistics '
        'methods are allowed by mmdet_rnnpool.utils.compat')


def _patch_checkpoint_loading() -> None:
    import torch.serialization
    torch.serialization.add_safe_globals(
        _checkpoint_safe_globals() + [(_history_buffer_getattr, '__builtin__.getattr'),
                                      (_history_buffer_getattr, 'builtins.getattr')])


def _patch_ssd_head_loss_cls() -> None:
    from mmdet.models.dense_heads import SSDHead

    if getattr(SSDHead.__init__, '_rnnpool_compat', False):
        return
    original_init = SSDHead.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if 'loss_cls' not in self._modules and 'loss_cls' not in self.__dict__:
            self.loss_cls = None

    __init__._rnnpool_compat = True
    __init__.__doc__ = original_init.__doc__
    SSDHead.__init__ = __init__


def _is_installed(package: str) -> bool:
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        return spec is not None and spec.origin is not None


def _get_installed_path(package: str) -> str:
    # The module (not the distribution) decides where configs live: mmdet::x resolves to
    # <mmdet package>/.mim/configs/x in an installed mmdet.
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f'package {package!r} is not installed (needed by a '
                                  f"'{package}::' config path)")
    return osp.dirname(spec.origin)


def _patch_package_paths() -> None:
    import mmengine.config.config as config_module
    import mmengine.hub.hub as hub_module
    import mmengine.utils as utils_module
    import mmengine.utils.package_utils as package_utils

    # Each module bound the functions by name at import, so each binding is replaced.
    for module in (package_utils, utils_module, config_module, hub_module):
        module.is_installed = _is_installed
        module.get_installed_path = _get_installed_path


def _patch_cpu_distributed() -> None:
    import torch
    import torch.distributed as torch_dist
    import mmengine.dist.utils as dist_utils
    from mmengine.model import MMDistributedDataParallel

    if getattr(dist_utils._init_dist_pytorch, '_rnnpool_compat', False):
        return
    original_init_dist = dist_utils._init_dist_pytorch

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if torch.cuda.is_available() or init_backend != 'torch':
            return original_init_dist(backend, init_backend=init_backend, **kwargs)
        # NCCL needs GPUs; gloo is torch's CPU backend.
        torch_dist.init_process_group(backend='gloo' if backend == 'nccl' else backend, **kwargs)

    _init_dist_pytorch._rnnpool_compat = True
    dist_utils._init_dist_pytorch = _init_dist_pytorch

    original_ddp_init = MMDistributedDataParallel.__init__

    def __init__(self, module, detect_anomalous_params=False, **kwargs):
        if not torch.cuda.is_available():
            kwargs['device_ids'] = None
        original_ddp_init(self, module, detect_anomalous_params=detect_anomalous_params, **kwargs)

    MMDistributedDataParallel.__init__ = __init__


def _patch_onnxscript_no_op_rules() -> bool:
    """Make onnxscript's no-op rewrite rules match exactly 0 / 1; False without onnxscript."""
    try:
        from onnxscript.rewriter._pattern_ir import Constant
        from onnxscript.rewriter.rules.common import _no_op
    except ImportError:
        return False
    for rule in _no_op.rules.rules:
        for node in rule._target_pattern._nodes:
            for value in node.inputs:
                if isinstance(value, Constant):
                    value._rel_tol = 0.0
                    value._abs_tol = 0.0
    return True


def apply_onnx_export_patches() -> bool:
    """Apply the fixes of ONNX export (fix 5); returns whether onnxscript was there to fix."""
    return _patch_onnxscript_no_op_rules()


def apply_compat_patches() -> None:
    """Apply every fix once (safe to call repeatedly)."""
    global _applied
    if _applied:
        return
    _patch_checkpoint_loading()
    _patch_package_paths()
    _patch_ssd_head_loss_cls()
    _patch_cpu_distributed()
    _applied = True
