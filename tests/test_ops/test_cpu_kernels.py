"""The C++ CPU kernel of the FastGRNN recurrence against the Python path it replaces."""
import os
import warnings

import pytest
import torch

from mmdet_rnnpool.ops import FastGRNNCell, RNNPool, cpu_kernels
from mmdet_rnnpool.ops.rnnpool import _windows


@pytest.fixture(scope='module')
def kernel():
    module = cpu_kernels.load_cpu_kernel()
    if module is None:
        reason = f'C++ kernel unavailable here: {cpu_kernels.kernel_status()["error"]}'
        if os.environ.get('CI', '') == 'true':  # CI has a compiler: the fast path must be tested
            pytest.fail(reason)
        pytest.skip(reason)
    return module


@pytest.fixture
def python_path(monkeypatch):
    """Runs the body with the kernel switched off (the fallback every device uses)."""
    def switch(on: bool):
        monkeypatch.setenv(cpu_kernels.ENV_SWITCH, '0' if on else '1')
    return switch


def _pool(nonlinearity, **kwargs):
    torch.manual_seed(0)
    pool = RNNPool(3, (5, 4), nonlinearity=nonlinearity, **kwargs).double()
    with torch.no_grad():
        for param in pool.parameters():
            param.copy_(torch.randn_like(param))
    return pool


def _output_and_grads(pool, x):
    pool.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    out = pool(x)
    (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
    return [out.detach(), x.grad] + [p.grad for p in pool.parameters()]


# Geometries with more than one 64-sequence tile, partial tiles, padding and ceil mode.
@pytest.mark.parametrize('geometry', [
    dict(kernel_size=4, stride=2, padding=1),
    dict(kernel_size=(3, 5), stride=(3, 2), padding=(1, 2), ceil_mode=True),
    dict(kernel_size=(6, 2), stride=(4, 1), padding=(3, 0)),
])
@pytest.mark.parametrize('nonlinearity', ['standard', 'quant'])
def test_kernel_equals_python_path(kernel, python_path, nonlinearity, geometry):
    pool = _pool(nonlinearity, **geometry)
    torch.manual_seed(1)
    x = 2 * torch.randn(3, 3, 37, 29, dtype=torch.float64)
    python_path(True)
    expected = _output_and_grads(pool, x)
    python_path(False)
    got = _output_and_grads(pool, x)
    for a, b in zip(got, expected):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


# Without padding the kernel path writes RNN1's step inputs straight into the map and does not
# crop the rows / columns that no patch visits (here 2 rows and 1 column).
@pytest.mark.parametrize('geometry', [
    dict(kernel_size=(5, 4), stride=3),
    dict(kernel_size=4, stride=(2, 4)),
])
def test_kernel_without_padding_equals_python_path(kernel, python_path, geometry):
    pool = _pool('standard', **geometry)
    torch.manual_seed(2)
    x = 2 * torch.randn(3, 3, 37, 29, dtype=torch.float64)
    python_path(True)
    expected = _output_and_grads(pool, x)
    python_path(False)
    got = _output_and_grads(pool, x)
    assert got[0].shape == expected[0].shape
    for a, b in zip(got, expected):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_kernel_window_modes_equal_materialised_windows(kernel):
    torch.manual_seed(0)
    hid = 6
    feature_map = torch.randn(hid, 2, 70, 23, dtype=torch.float64)
    U = 0.5 * torch.randn(hid, hid, dtype=torch.float64)
    bias_delta = torch.randn(hid, dtype=torch.float64)
    for dim, size, step in ((2, 5, 3), (3, 4, 1), (3, 7, 7), (2, 70, 1)):
        windows = _windows(feature_map, dim, size, step).contiguous()
        for reverse in (False, True):
            plain = windows.flip(1).contiguous() if reverse else windows
            want = kernel.fastgrnn_forward(plain, 0, size, 1, False, U, bias_delta, 0.3, 0.8,
                                           False)
            got = kernel.fastgrnn_forward(feature_map, dim, size, step, reverse, U, bias_delta,
                                          0.3, 0.8, False)
            torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
            grad = torch.randn_like(want)
            want_grads = kernel.fastgrnn_backward(grad, plain, 0, size, 1, False, U, bias_delta,
                                                  0.3, 0.8, False)
            got_grads = kernel.fastgrnn_backward(grad, feature_map, dim, size, step, reverse, U,
                                                 bias_delta, 0.3, 0.8, False)
            # The map's gradient is the materialised windows' gradient folded back.
            plain_grad = want_grads[0].flip(1) if reverse else want_grads[0]
            windows_var = feature_map.clone().requires_grad_(True)
            _windows(windows_var, dim, size, step).backward(plain_grad)
            torch.testing.assert_close(got_grads[0], windows_var.grad, rtol=0, atol=1e-12)
            for a, b in zip(got_grads[1:], want_grads[1:]):  # sums in another order
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_kernel_float32_strided_windows_equal_materialised_windows(kernel):
    # float32 runs of strided windows longer than a vector (the AVX-512 permute loads / adds
    # where the CPU has them), and two window sets adding into one map gradient (grad_into).
    torch.manual_seed(1)
    hid = 5
    feature_map = torch.randn(hid, 2, 41, 150)
    U = 0.5 * torch.randn(hid, hid)
    bias_delta = torch.randn(hid)
    for step in range(1, 10):
        for dim, size in ((3, step + 1), (3, 2 * step), (2, step + 2)):
            windows = _windows(feature_map, dim, size, step).contiguous()
            want = kernel.fastgrnn_forward(windows, 0, size, 1, False, U, bias_delta, 0.3, 0.8,
                                           False)
            got = kernel.fastgrnn_forward(feature_map, dim, size, step, False, U, bias_delta,
                                          0.3, 0.8, False)
            torch.testing.assert_close(got, want, rtol=0, atol=0)
            grad = torch.randn_like(want)
            want_grads = kernel.fastgrnn_backward(grad, windows, 0, size, 1, False, U,
                                                  bias_delta, 0.3, 0.8, False)
            windows_var = feature_map.clone().requires_grad_(True)
            _windows(windows_var, dim, size, step).backward(want_grads[0])
            shared = torch.full_like(feature_map, 0.25)
            got_grads = kernel.fastgrnn_backward(grad, feature_map, dim, size, step, False, U,
                                                 bias_delta, 0.3, 0.8, False, grad_into=shared)
            assert got_grads[0] is shared
            torch.testing.assert_close(shared - 0.25, windows_var.grad, rtol=0, atol=1e-5)
            for a, b in zip(got_grads[1:], want_grads[1:]):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3)


def test_kernel_gradcheck_through_windows(kernel):
    cell = FastGRNNCell(3, 4).double()
    torch.manual_seed(3)
    with torch.no_grad():
        for param in cell.parameters():
            param.copy_(torch.randn_like(param))
    feature_map = torch.randn(4, 1, 9, 5, dtype=torch.float64, requires_grad=True)

    def fn(values, U):
        consts = cell.precompute()
        consts['U'] = U
        return cell.window_recurrence(values, 3, 3, 2, consts, reverse=True)

    U = cell.U.detach().clone().requires_grad_(True)
    assert fn(feature_map, U) is not None  # the kernel path ran
    assert torch.autograd.gradcheck(fn, (feature_map, U))


def test_float32_kernel_close_to_float64(kernel):
    pool = _pool('standard', kernel_size=8, stride=4)
    x = torch.randn(2, 3, 40, 36, dtype=torch.float64)
    want = _output_and_grads(pool, x)
    got = _output_and_grads(pool.float(), x.float())
    torch.testing.assert_close(got[0].double(), want[0], rtol=0, atol=1e-5)
    for a, b in zip(got[1:], want[1:]):
        assert (a.double() - b).abs().max() <= 1e-4 * b.abs().max()


def test_switched_off_means_python_path_and_no_build(monkeypatch):
    monkeypatch.setenv(cpu_kernels.ENV_SWITCH, '0')
    assert cpu_kernels.load_cpu_kernel() is None
    cell = FastGRNNCell(2, 3)
    assert cell.window_recurrence(torch.zeros(3, 1, 4, 4), 2, 2, 1, cell.precompute()) is None


def test_failed_build_warns_once_and_falls_back(monkeypatch, tmp_path):
    from torch.utils import cpp_extension

    def broken_load(**kwargs):
        raise RuntimeError('no compiler here\nmore lines')

    monkeypatch.setattr(cpp_extension, 'load', broken_load)
    monkeypatch.setattr(cpu_kernels, '_state',
                        {'tried': False, 'module': None, 'error': None, 'seconds': None})
    monkeypatch.setenv(cpu_kernels.ENV_DIR, str(tmp_path))
    pool = _pool('standard', kernel_size=3, stride=2)
    x = torch.randn(1, 3, 9, 9, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match='could not be built.*no compiler here'):
        out = pool(x)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # warned once: no second warning
        torch.testing.assert_close(pool(x), out, rtol=0, atol=0)
    status = cpu_kernels.kernel_status()
    assert status['tried'] and not status['loaded'] and 'no compiler here' in status['error']
