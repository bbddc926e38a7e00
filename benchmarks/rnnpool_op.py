"""Benchmark the vectorised RNNPool against a straightforward patch-by-patch implementation.

The straightforward version is of the kind the original release uses: unfold every patch,
reshape its rows and columns into a batch of sequences, run RNN1 (rows, then columns) and
RNN2 (rows forward, rows backward, columns forward, columns backward) one time step at a time
over the patch batch, with ``W x`` computed inside every step, and concatenate the results.
Both run with the same FastGRNN weights; outputs and gradients are checked to be equal
(float32 round-off) before timing.

Usage::

    python benchmarks/rnnpool_op.py [--threads 2] [--repeats 3] [--settings Face-Quant ...]

Prints a markdown table (best wall-clock time per call of several runs, in milliseconds; the two
implementations are timed alternately, so that load from other processes hits both).
"""
import argparse
import os
import sys
import time
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mmdet_rnnpool.ops import FastGRNNCell, RNNPool  # noqa: E402

#: name -> (batch, channels, height, width, kernel, stride, h1, h2)
SETTINGS: Dict[str, Tuple[int, int, int, int, int, int, int, int]] = {
    'Face-Quant': (2, 4, 320, 320, 8, 4, 8, 8),
    'Face-C': (2, 3, 640, 480, 8, 4, 16, 16),
    'Face-M4': (8, 4, 160, 120, 8, 4, 16, 16),
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


def _time_pair(slow: Callable[[], None], fast: Callable[[], None],
               repeats: int) -> Tuple[float, float]:
    """Fastest of ``repeats`` runs of each (ms), run alternately so load changes hit both."""
    slow(), fast()  # warm-up
    times: Tuple[List[float], List[float]] = ([], [])
    for _ in range(repeats):
        for fn, record in ((slow, times[0]), (fast, times[1])):
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return min(times[0]) * 1e3, min(times[1]) * 1e3


def bench(name: str, repeats: int) -> List[str]:
    batch, chans, height, width, kernel, stride, h1, h2 = SETTINGS[name]
    torch.manual_seed(0)
    pool = RNNPool(chans, (h1, h2), kernel, stride)
    # Non-trivial biases and zeta/nu so that every term of the update matters.
    with torch.no_grad():
        for p in pool.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(batch, chans, height, width)
    with torch.no_grad():
        fast, slow = pool(x), straightforward_rnnpool(pool, x)
    max_err = (fast - slow).abs().max().item()
    if max_err > 1e-4:
        raise RuntimeError(f'{name}: outputs differ by {max_err:.3g}')
    del fast, slow
    # Gradients (input and every parameter) must agree too.
    grads = []
    for impl in (pool, lambda inp: straightforward_rnnpool(pool, inp)):
        pool.zero_grad(set_to_none=True)
        xg = x.clone().requires_grad_(True)
        impl(xg).square().mean().backward()
        grads.append([xg.grad] + [p.grad for p in pool.parameters()])
    grad_err = max(((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()
                   for a, b in zip(*grads))
    if grad_err > 1e-3:
        raise RuntimeError(f'{name}: gradients differ by {grad_err:.3g} (relative)')
    del grads

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

    fast_impl, slow_impl = pool, (lambda inp: straightforward_rnnpool(pool, inp))
    fwd_slow, fwd_fast = _time_pair(forward(slow_impl), forward(fast_impl), repeats)
    fb_slow, fb_fast = _time_pair(forward_backward(slow_impl), forward_backward(fast_impl),
                                  repeats)
    shape = f'{batch}x{chans}x{height}x{width}'
    return [
        f'| {name} | {torch.get_num_threads()} | {shape} | {kernel}/{stride} | {h1}/{h2} | {fwd_slow:.0f} | {fwd_fast:.0f} | '
        f'{fwd_slow / fwd_fast:.1f}x | {fb_slow:.0f} | {fb_fast:.0f} | '
        f'{fb_slow / fb_fast:.1f}x | {max_err:.1e} | {grad_err:.1e} |'
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', type=int, default=1, help='torch.set_num_threads')
    parser.add_argument('--repeats', type=int, default=5, help='timed runs (median)')
    parser.add_argument('--settings', nargs='+', default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} thread(s), float32, CPU, '
          f'best of {args.repeats} alternating runs, times in ms')
    print()
    print('| setting | threads | input (NxCxHxW) | patch/stride | h1/h2 | fwd straightforward | '
          'fwd vectorised | fwd speed-up | fwd+bwd straightforward | fwd+bwd vectorised | '
          'fwd+bwd speed-up | max abs diff (output) | max rel diff (grads) |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for name in args.settings:
        for line in bench(name, args.repeats):
            print(line, flush=True)


if __name__ == '__main__':
    main()
