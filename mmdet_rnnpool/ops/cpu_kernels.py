"""The C++ CPU kernel of the FastGRNN recurrence: built on first use, cached, optional.

``csrc/fastgrnn_cpu.cpp`` is compiled with ``torch.utils.cpp_extension.load`` (the compiler and
ninja that the project's set-up already needs) into
``~/.cache/mmdet-rnnpool/torch_extensions/`` (``MMDET_RNNPOOL_EXTENSIONS_DIR`` overrides it),
once per source / torch version / CPU capability; later processes load the cached library in
well under a second. When the build fails, RNNPool warns once and runs the Python path, which
computes the same thing. ``MMDET_RNNPOOL_CPU_KERNEL=0`` turns the kernel off (no build, no
warning).

The kernel is used for CPU tensors only; other devices, tracers and exporters run the Python
path (standard tensor ops).
"""
import hashlib
import logging
import os
import os.path as osp
import platform
import time
import warnings
from typing import Any, Dict, Optional

import torch

_CSRC = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc')
_SOURCE = osp.join(_CSRC, 'fastgrnn_cpu.cpp')
_HEADERS = [osp.join(_CSRC, 'fastgrnn_kernels.h')]
ENV_SWITCH = 'MMDET_RNNPOOL_CPU_KERNEL'
ENV_DIR = 'MMDET_RNNPOOL_EXTENSIONS_DIR'

# What one process learnt: the loaded module, or why there is none; the load time.
_state: Dict[str, Any] = {'tried': False, 'module': None, 'error': None, 'seconds': None}


def kernel_enabled() -> bool:
    """False when ``MMDET_RNNPOOL_CPU_KERNEL=0`` switches the C++ kernel off."""
    return os.environ.get(ENV_SWITCH, '1').strip() not in ('0', 'false', 'False', 'no')


def _arch_flags() -> list:
    """Vector-instruction flags for the CPU torch itself dispatches to (x86-64 only)."""
    if platform.machine().lower() not in ('x86_64', 'amd64'):
        return []
    capability = torch.backends.cpu.get_cpu_capability()
    if capability.startswith('AVX512'):
        return ['-mavx2', '-mfma', '-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl']
    if capability == 'AVX2':
        return ['-mavx2', '-mfma']
    return []


def build_directory() -> str:
    """Where the compiled kernel is cached (created on demand)."""
    root = os.environ.get(ENV_DIR) or osp.join(
        osp.expanduser('~'), '.cache', 'mmdet-rnnpool', 'torch_extensions')
    return root


def _build_name(flags: list) -> str:
    digest = hashlib.sha1()
    for path in [_SOURCE, *_HEADERS]:
        with open(path, 'rb') as f:
            digest.update(f.read())
    digest.update(' '.join([torch.__version__, platform.machine(), *flags]).encode())
    return f'rnnpool_fastgrnn_cpu_{digest.hexdigest()[:12]}'


def _import_cpp_extension():
    """``torch.utils.cpp_extension``, without its import-time 'No CUDA runtime is found'
    warning on machines without CUDA (irrelevant to a CPU kernel)."""
    logger = logging.getLogger('torch.utils.cpp_extension')
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils import cpp_extension
    finally:
        logger.setLevel(level)
    return cpp_extension


def load_cpu_kernel(verbose: bool = False) -> Optional[Any]:
    """The compiled kernel module, building it if needed; None if disabled or unbuildable.

    A failed build warns once per process (naming the reason) and is not retried.
    """
    if not kernel_enabled():
        return None
    if _state['tried']:
        return _state['module']
    _state['tried'] = True
    start = time.perf_counter()
    try:
        cpp_extension = _import_cpp_extension()
        if os.name == 'nt':
            flags = ['/O2']
        else:  # -fno-trapping-math lets the float -> int conversion of exp vectorise
            flags = ['-O3', '-fno-trapping-math', '-fopenmp', *_arch_flags()]
        name = _build_name(flags)
        directory = osp.join(build_directory(), name)
        os.makedirs(directory, exist_ok=True)
        module = cpp_extension.load(
            name=name, sources=[_SOURCE], extra_cflags=flags,
            extra_ldflags=['-fopenmp'] if os.name != 'nt' else [], build_directory=directory,
            verbose=verbose)
    except Exception as error:  # any build / load failure: the Python path takes over
        reason = str(error).strip().splitlines()
        _state['error'] = f'{type(error).__name__}: {reason[0] if reason else ""}'
        warnings.warn(f'RNNPool: the C++ CPU kernel ({_SOURCE}) could not be built or loaded '
                      f'({_state["error"]}); using the Python path (same results, slower). '
                      f'Set {ENV_SWITCH}=0 to skip the kernel.', RuntimeWarning, stacklevel=2)
        return None
    _state['module'] = module
    _state['seconds'] = time.perf_counter() - start
    return module


def kernel_status() -> Dict[str, Any]:
    """What this process knows about the kernel: loaded or not, why not, load seconds."""
    return {'enabled': kernel_enabled(), 'tried': _state['tried'],
            'loaded': _state['module'] is not None, 'error': _state['error'],
            'load_seconds': _state['seconds'], 'source': _SOURCE}
