// FastGRNN recurrence over many independent sequences, CPU, forward and backward.
//
// Built on first use by mmdet_rnnpool/ops/cpu_kernels.py (torch.utils.cpp_extension.load).
// The Python path (cells.py) computes the same thing one time step at a time over all
// sequences; here the sequences are cut into tiles of kTile columns and each tile runs all of
// its time steps while its state stays in cache, with every elementwise part of a step in one
// pass. The backward recomputes a tile's steps instead of storing them.
//
// Layout (feature-first, as cells.py): step inputs xb (H, T, M), contiguous; U (H, H);
// bias_delta (H); state (H, M). The equations (see cells.py, FastGRNNCell):
//   pre = xb_t + U h;  z = s(pre);  h~ = t(pre + bias_delta)
//   h' = h~ sig_sum + z (h - sig_zeta h~)          (h' = h~ (sig_sum - sig_zeta z) at t = 0)
// with s / t = sigmoid / tanh ('standard', tanh as 2 sigmoid(2 x) - 1) or the quant clamps.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <vector>

#include "fastgrnn_kernels.h"

namespace {

using namespace rnnpool_cpu;

template <typename T>
Cell<T> make_cell(const at::Tensor& xb, const at::Tensor& U, const at::Tensor& Ut,
                  const at::Tensor& bias_delta, double sig_zeta, double sig_sum, bool quant) {
  Cell<T> cell;
  cell.H = xb.size(0);
  cell.steps = xb.size(1);
  cell.M = xb.size(2);
  cell.U = U.data_ptr<T>();
  cell.Ut = Ut.defined() ? Ut.data_ptr<T>() : nullptr;
  cell.bias_delta = bias_delta.data_ptr<T>();
  cell.sig_zeta = static_cast<T>(sig_zeta);
  cell.sig_sum = static_cast<T>(sig_sum);
  cell.quant = quant;
  return cell;
}

void check_inputs(const at::Tensor& xb, const at::Tensor& U, const at::Tensor& bias_delta) {
  TORCH_CHECK(xb.device().is_cpu() && U.device().is_cpu() && bias_delta.device().is_cpu(),
              "fastgrnn_cpu: CPU tensors only");
  TORCH_CHECK(xb.dim() == 3 && xb.is_contiguous(), "fastgrnn_cpu: xb must be contiguous (H, T, M)");
  TORCH_CHECK(xb.size(1) >= 1, "fastgrnn_cpu: at least one time step");
  const int64_t H = xb.size(0);
  TORCH_CHECK(U.dim() == 2 && U.size(0) == H && U.size(1) == H && U.is_contiguous(),
              "fastgrnn_cpu: U must be contiguous (H, H)");
  TORCH_CHECK(bias_delta.numel() == H && bias_delta.is_contiguous(),
              "fastgrnn_cpu: bias_delta must have H elements");
  TORCH_CHECK(U.scalar_type() == xb.scalar_type() && bias_delta.scalar_type() == xb.scalar_type(),
              "fastgrnn_cpu: dtypes differ");
}

// Last hidden state (H, M) of FastGRNN run from the zero state over xb (H, T, M).
at::Tensor fastgrnn_forward(const at::Tensor& xb, const at::Tensor& U,
                            const at::Tensor& bias_delta, double sig_zeta, double sig_sum,
                            bool quant) {
  check_inputs(xb, U, bias_delta);
  const int64_t H = xb.size(0), M = xb.size(2);
  at::Tensor out = at::empty({H, M}, xb.options());
  const int64_t tiles = (M + kTile - 1) / kTile;
  AT_DISPATCH_FLOATING_TYPES(xb.scalar_type(), "fastgrnn_forward", [&] {
    const Cell<scalar_t> cell =
        make_cell<scalar_t>(xb, U, at::Tensor(), bias_delta, sig_zeta, sig_sum, quant);
    const scalar_t* x = xb.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
      const int64_t block = H * kTile;
      // pre, z, h~, h (two slots); a torch allocation, so that memory profilers see it.
      at::Tensor buffer = at::empty({5 * block}, xb.options());
      scalar_t* pre = buffer.data_ptr<scalar_t>();
      for (int64_t tile = begin; tile < end; ++tile) {
        const int64_t m0 = tile * kTile, width = std::min(kTile, M - m0);
        const scalar_t* h = tile_forward(cell, x, m0, width, false, pre, pre + block,
                                         pre + 2 * block, pre + 3 * block);
        for (int64_t i = 0; i < H; ++i)
          std::memcpy(o + i * M + m0, h + i * 2 * kTile, width * sizeof(scalar_t));
      }
    });
  });
  return out;
}

// Gradients of fastgrnn_forward's output with respect to xb, U, bias_delta, sig_zeta and
// sig_sum (the last three: (H, 1), (1,), (1,)), recomputing the forward steps tile by tile.
std::vector<at::Tensor> fastgrnn_backward(const at::Tensor& grad_h, const at::Tensor& xb,
                                          const at::Tensor& U, const at::Tensor& bias_delta,
                                          double sig_zeta, double sig_sum, bool quant) {
  check_inputs(xb, U, bias_delta);
  const int64_t H = xb.size(0), steps = xb.size(1), M = xb.size(2);
  TORCH_CHECK(grad_h.dim() == 2 && grad_h.size(0) == H && grad_h.size(1) == M &&
                  grad_h.is_contiguous() && grad_h.scalar_type() == xb.scalar_type(),
              "fastgrnn_cpu: grad_h must be contiguous (H, M)");
  at::Tensor grad_xb = at::empty_like(xb);
  const at::Tensor Ut = U.t().contiguous();
  const int64_t tiles = (M + kTile - 1) / kTile;
  const int threads = at::get_num_threads();
  // Per-thread sums in double: grad U (H*H), grad bias_delta (H), sig_zeta, sig_sum.
  std::vector<std::vector<double>> sums(threads, std::vector<double>(H * H + H + 2, 0.0));
  AT_DISPATCH_FLOATING_TYPES(xb.scalar_type(), "fastgrnn_backward", [&] {
    const Cell<scalar_t> cell = make_cell<scalar_t>(xb, U, Ut, bias_delta, sig_zeta, sig_sum, quant);
    const scalar_t* x = xb.data_ptr<scalar_t>();
    const scalar_t* gh = grad_h.data_ptr<scalar_t>();
    scalar_t* gx = grad_xb.data_ptr<scalar_t>();
    at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
      std::vector<double>& sum = sums[at::get_thread_num()];
      at::Tensor workspace = at::empty({backward_workspace_size(cell)}, xb.options());
      for (int64_t tile = begin; tile < end; ++tile)
        tile_backward(cell, x, gh, gx, tile * kTile, std::min(kTile, M - tile * kTile),
                      workspace.data_ptr<scalar_t>(), sum.data());
    });
  });
  std::vector<double> total(H * H + H + 2, 0.0);
  for (const auto& s : sums)
    for (size_t e = 0; e < total.size(); ++e) total[e] += s[e];
  const auto options_double = at::TensorOptions().dtype(at::kDouble);
  at::Tensor all = at::from_blob(total.data(), {static_cast<int64_t>(total.size())}, options_double)
                       .to(xb.scalar_type());
  at::Tensor grad_U = all.narrow(0, 0, H * H).view({H, H}).clone();
  at::Tensor grad_bias_delta = all.narrow(0, H * H, H).view({H, 1}).clone();
  at::Tensor grad_sig_zeta = all.narrow(0, H * H + H, 1).clone();
  at::Tensor grad_sig_sum = all.narrow(0, H * H + H + 1, 1).clone();
  return {grad_xb, grad_U, grad_bias_delta, grad_sig_zeta, grad_sig_sum};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("fastgrnn_forward", &fastgrnn_forward, "FastGRNN last state over (H, T, M) step inputs");
  m.def("fastgrnn_backward", &fastgrnn_backward, "Gradients of fastgrnn_forward (recomputing)");
}
