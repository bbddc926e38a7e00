"""Benchmark RNNPool against a straightforward patch-by-patch implementation.

The straightforward version is of the kind the original release uses: unfold every patch,
reshape its rows and columns into a batch of sequences, run RNN1 (rows, then columns) and
RNN2 (rows forward, rows backward, columns forward, columns backward) one time step at a time
over the patch batch, with ``W x`` computed inside every step, and concatenate the results.
Both run with the same FastGRNN weights (non-trivial biases, zeta and nu); outputs and
gradients (input and every parameter) are compared before timing.

Settings: the face detectors' RNNPool layers (Face-Quant, Face-C, Face-M4) and the
classifiers' (the paper's Table 9: MobileNetV2-RNNPool, ResNet18-RNNPool, DenseNet121-RNNPool,
on the 112 x 112 map after the first stride-2 conv of a 224 x 224 image).

Timing: the two implementations run alternately (straightforward, RNNPool, straightforward,
...) so that load from other processes hits both; the table gives the median of ``--repeats``
such pairs, in milliseconds, and the speed-up is the median of the per-pair ratios. fwd runs
under ``torch.no_grad()``; fwd+bwd is forward, ``square().mean()``, backward to the input and
every parameter.

Peak memory: the largest amount of tensor memory (MB) allocated at once during one fwd+bwd
call, above what was allocated before it, from ``torch.profiler``'s memory events (CPU
allocations of torch tensors, including the C++ kernel's workspaces).

Usage::

    python benchmarks/rnnpool_op.py [--threads 1 2] [--repeats 5] [--settings Face-Quant ...]
                                    [--clock wall|cpu]
"""
import argparse
import contextlib
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mmdet_rnnpool.ops import FastGRNNCell, RNNPool  # noqa: E402
from mmdet_rnnpool.ops.cpu_kernels import kernel_status, load_cpu_kernel  # noqa: E402

#: name -> (batch, channels, height, width, kernel, stride, h1, h2)
SETTINGS: Dict[str, Tuple[int, int, int, int, int, int, int, int]] = {
    'Face-Quant': (2, 4, 320, 320, 8, 4, 8, 8),
    'Face-C': (2, 3, 640, 480, 8, 4, 16, 16),
    'Face-M4': (8, 4, 160, 120, 8, 4, 16, 16),
    'MobileNetV2-RNNPool': (2, 32, 112, 112, 6, 4, 16, 16),
    'ResNet18-RNNPool': (2, 64, 112, 112, 8, 4, 32, 32),
    'DenseNet121-RNNPool': (2, 64, 112, 112, 8, 4, 48, 48),
}


def _fastgrnn_step(cell: FastGRNNCell, x: Tensor, h: Tensor) -> Tensor:
    """Textbook FastGRNN step, projecting the input inside the step."""
    pre = x @ cell.W.t() + h @ cell.U.t()
    z = torch.sigmoid(pre + cell.bias_gate)
    h_tilde = torch.tanh(pre + cell.bias_update)
    return z * h + (torch.sigmoid(cell.zeta) * (1 - z) + torch.sigmoid(cell.nu)) * h_tilde


def _run_rnn(cell: FastGRNNCell, seq: Tensor) -> Tensor:
    """Run over ``seq`` of shape (M, T, I) from the zero state; return the last state."""
    h = seq.new_zeros(seq.shape[0], cell.hidden_size)
    for t in range(seq.shape[1]):
        h = _fastgrnn_step(cell, seq[:, t], h)
    return h


def straightforward_rnnpool(pool: RNNPool, x: Tensor) -> Tensor:
    """Unfold-every-patch RNNPool with per-step input projections."""
    (kh, kw), (sh, sw), (ph, pw) = pool.kernel_size, pool.stride, pool.padding
    n, c, in_h, in_w = x.shape
    out_h, out_w = pool.output_size(in_h, in_w)
    patches = F.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw))  # (N, C*kh*kw, L)
    patches = patches.transpose(1, 2).reshape(-1, c, kh, kw)
    num = patches.shape[0]
    rows = patches.permute(0, 2, 3, 1).reshape(num * kh, kw, c)
    cols = patches.permute(0, 3, 2, 1).reshape(num * kw, kh, c)
    row_sum = _run_rnn(pool.rnn1, rows).view(num, kh, -1)
    col_sum = _run_rnn(pool.rnn1, cols).view(num, kw, -1)
    out = torch.cat([
        _run_rnn(pool.rnn2, row_sum),
        _run_rnn(pool.rnn2, row_sum.flip(1)),
        _run_rnn(pool.rnn2, col_sum),
        _run_rnn(pool.rnn2, col_sum.flip(1)),
    ], 1)
    return out.view(n, out_h * out_w, -1).transpose(1, 2).reshape(n, -1, out_h, out_w)


#: ``--clock``: wall time, or the CPU time of this process (all its threads; on a machine
#: that other jobs load, preemption does not count, though their cache pressure still does).
CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}


def _time_pairs(slow: Callable[[], None], fast: Callable[[], None], repeats: int,
                clock: Callable[[], float] = time.perf_counter) -> Tuple[float, float, float]:
    """Median ms of each and median per-pair speed-up of ``repeats`` alternating runs."""
    slow(), fast()  # warm-up
    slow_ms: List[float] = []
    fast_ms: List[float] = []
    for _ in range(repeats):
        for fn, record in ((slow, slow_ms), (fast, fast_ms)):
            start = clock()
            fn()
            record.append((clock() - start) * 1e3)
    ratios = [s / f for s, f in zip(slow_ms, fast_ms)]
    return statistics.median(slow_ms), statistics.median(fast_ms), statistics.median(ratios)


@contextlib.contextmanager
def _native_stderr_silenced():
    """Silence the profiler's native log lines (``USDT: ... profiler_start`` and a GPU probe's
    ``ERROR``, written straight to file descriptor 2) while it runs; Python errors still show."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def peak_memory_mb(fn: Callable[[], None]) -> float:
    """Peak tensor memory (MB) allocated at once during ``fn()``, from the profiler's events.

    Every profiler event carries the bytes its operator allocated minus those it freed
    (children excluded); in start-time order their running sum is the memory held above the
    level before ``fn``.
    """
    from torch.profiler import ProfilerActivity, profile
    with _native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU],
                                             profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.events() if e.self_cpu_memory_usage),
                    key=lambda e: e.time_range.start)
    held = peak = 0
    for event in events:
        held += event.self_cpu_memory_usage
        peak = max(peak, held)
    return peak / 2**20


def _setting_pool(name: str) -> Tuple[RNNPool, Tensor]:
    batch, chans, height, width, kernel, stride, h1, h2 = SETTINGS[name]
    torch.manual_seed(0)
    pool = RNNPool(chans, (h1, h2), kernel, stride)
    # Non-trivial biases and zeta/nu so that every term of the update matters.
    with torch.no_grad():
        for p in pool.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return pool, torch.randn(batch, chans, height, width)


def _numerics(pool: RNNPool, x: Tensor, slow_impl) -> Tuple[float, float]:
    """Max abs output difference and max relative gradient difference (per tensor)."""
    with torch.no_grad():
        fast, slow = pool(x), slow_impl(x)
    max_err = (fast - slow).abs().max().item()
    grads = []
    for impl in (pool, slow_impl):
        pool.zero_grad(set_to_none=True)
        xg = x.clone().requires_grad_(True)
        impl(xg).square().mean().backward()
        grads.append([xg.grad] + [p.grad for p in pool.parameters()])
    grad_err = max(((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()
                   for a, b in zip(*grads))
    pool.zero_grad(set_to_none=True)
    return max_err, grad_err


def bench(name: str, thread_counts: List[int], repeats: int, clock: str = 'wall') -> List[str]:
    batch, chans, height, width, kernel, stride, h1, h2 = SETTINGS[name]
    pool, x = _setting_pool(name)

    def slow_impl(inp):
        return straightforward_rnnpool(pool, inp)

    max_err, grad_err = _numerics(pool, x, slow_impl)
    if not (max_err <= 1e-5 and grad_err <= 1e-4):  # NaN fails too
        raise RuntimeError(f'{name}: outputs differ by {max_err:.3g}, gradients by '
                           f'{grad_err:.3g} (relative)')

    def forward(impl):
        def run():
            with torch.no_grad():
                impl(x)
        return run

    def forward_backward(impl):
        xg = x.clone().requires_grad_(True)

        def run():
            pool.zero_grad(set_to_none=True)
            impl(xg).square().mean().backward()
        return run

    torch.set_num_threads(thread_counts[0])
    memory = [peak_memory_mb(forward_backward(impl)) for impl in (slow_impl, pool)]
    lines = []
    for threads in thread_counts:
        torch.set_num_threads(threads)
        fwd = _time_pairs(forward(slow_impl), forward(pool), repeats, CLOCKS[clock])
        fb = _time_pairs(forward_backward(slow_impl), forward_backward(pool), repeats,
                         CLOCKS[clock])
        lines.append(
            f'| {name} | {threads} | {batch}x{chans}x{height}x{width} | {kernel}/{stride} | '
            f'{h1}/{h2} | {fwd[0]:.0f} | {fwd[1]:.1f} | {fwd[2]:.1f}x | {fb[0]:.0f} | '
            f'{fb[1]:.1f} | {fb[2]:.1f}x | {memory[0]:.0f} | {memory[1]:.0f} | '
            f'{max_err:.1e} | {grad_err:.1e} |')
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2],
                        help='torch.set_num_threads values, each timed')
    parser.add_argument('--repeats', type=int, default=5, help='alternating pairs (median)')
    parser.add_argument('--settings', nargs='+', default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument('--clock', choices=list(CLOCKS), default='wall',
                        help="'wall' (default; for an idle machine) or 'cpu' (this process's CPU "
                        'time, steadier on a loaded machine)')
    args = parser.parse_args()
    start = time.perf_counter()
    load_cpu_kernel()
    status = kernel_status()
    if status['loaded']:
        path = f'C++ CPU kernel (loaded/built in {status["load_seconds"]:.1f} s)'
    else:
        path = f'Python path ({status["error"] or "kernel switched off"})'
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    print(f'torch {torch.__version__}, float32, CPU, RNNPool: {path}; load average before '
          f'the run {load:.1f}; median of {args.repeats} alternating runs, {args.clock} times '
          'in ms, peak memory of fwd+bwd in MB')
    print()
    print('| setting | threads | input (NxCxHxW) | patch/stride | h1/h2 | fwd straightforward | '
          'fwd RNNPool | fwd speed-up | fwd+bwd straightforward | fwd+bwd RNNPool | '
          'fwd+bwd speed-up | peak MB straightforward | peak MB RNNPool | '
          'max abs diff (output) | max rel diff (grads) |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for name in args.settings:
        bench(name, args.threads, args.repeats, args.clock)
    print(f'\n{time.perf_counter() - start:.0f} s in all')


if __name__ == '__main__':
    main()
