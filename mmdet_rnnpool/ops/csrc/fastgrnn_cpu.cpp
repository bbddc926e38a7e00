// FastGRNN recurrence over many independent sequences, CPU, forward and backward.
//
// Built on first use by mmdet_rnnpool/ops/cpu_kernels.py (torch.utils.cpp_extension.load).
// The Python path (cells.py) computes the same thing one time step at a time over all
// sequences; here the sequences are cut into tiles of kTile columns and each tile runs all of
// its time steps while its state stays in cache, with every elementwise part of a step in one
// pass. The backward recomputes a tile's steps instead of storing them.
//
// Layout (feature-first, as cells.py): step inputs xb (H, T, M) contiguous, or read straight
// from the windows of a (H, N, A, B) map (see Plan); U (H, H); bias_delta (H); state (H, M).
// The equations (see cells.py, FastGRNNCell):
//   pre = xb_t + U h;  z = s(pre);  h~ = t(pre + bias_delta)
//   h' = h~ sig_sum + z (h - sig_zeta h~)          (h' = h~ (sig_sum - sig_zeta z) at t = 0)
// with s / t = sigmoid / tanh ('standard', tanh as 2 sigmoid(2 x) - 1) or the quant clamps.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <numeric>
#include <vector>

#include "fastgrnn_kernels.h"

namespace {

using namespace rnnpool_cpu;

template <typename T>
Cell<T> make_cell(const at::Tensor& xb, const at::Tensor& U, const at::Tensor& Ut,
                  const at::Tensor& bias_delta, double sig_zeta, double sig_sum, bool quant) {
  Cell<T> cell;
  cell.H = xb.size(0);
  cell.U = U.data_ptr<T>();
  cell.Ut = Ut.defined() ? Ut.data_ptr<T>() : nullptr;
  cell.bias_delta = bias_delta.data_ptr<T>();
  cell.sig_zeta = static_cast<T>(sig_zeta);
  cell.sig_sum = static_cast<T>(sig_sum);
  cell.quant = quant;
  cell.accumulate = true;
  return cell;
}

void check_inputs(const at::Tensor& xb, const at::Tensor& U, const at::Tensor& bias_delta) {
  TORCH_CHECK(xb.device().is_cpu() && U.device().is_cpu() && bias_delta.device().is_cpu(),
              "fastgrnn_cpu: CPU tensors only");
  const int64_t H = xb.size(0);
  TORCH_CHECK(U.dim() == 2 && U.size(0) == H && U.size(1) == H && U.is_contiguous(),
              "fastgrnn_cpu: U must be contiguous (H, H)");
  TORCH_CHECK(bias_delta.numel() == H && bias_delta.is_contiguous(),
              "fastgrnn_cpu: bias_delta must have H elements");
  TORCH_CHECK(U.scalar_type() == xb.scalar_type() && bias_delta.scalar_type() == xb.scalar_type(),
              "fastgrnn_cpu: dtypes differ");
}

// Which sequences a call runs, tile by tile. mode 0: the columns of plain step inputs
// (H, T, M). mode 2 / 3: the windows of length `steps` and stride `stride` along dim 2 / 3 of a
// (H, N, A, B) map, ordered like the map with that dim replaced by the window index (as
// rnnpool.py's _windows): window (n, w, b) of mode 2 reads rows w * stride + t, column b;
// window (n, a, w) of mode 3 reads row a, columns w * stride + t; `reverse` runs each window
// backwards. A tile is 64 consecutive windows (a few runs of neighbouring windows, see Layout).
// In the backward, a task is a set of tiles whose windows no other task's windows overlap,
// so that it may add into the map's gradient without races: all windows of one image (mode
// 2) or of a block of image rows (mode 3, sized so that they fill their tiles but for a few
// lanes); in the forward, and for plain inputs, every tile is a task.
struct Plan {
  int mode;
  int64_t N, A, B, steps, stride, count, tasks, tiles_per_task, out_size;
  int64_t windows_per_task;
  Layout layout;

  Plan(const at::Tensor& src, int mode_, int64_t steps_, int64_t stride_, bool reverse,
       bool backward)
      : mode(mode_) {
    TORCH_CHECK(src.is_contiguous(), "fastgrnn_cpu: step inputs must be contiguous");
    if (mode == 0) {
      TORCH_CHECK(src.dim() == 3 && src.size(1) >= 1, "fastgrnn_cpu: expected (H, T, M)");
      N = 1, A = 1, steps = src.size(1), B = src.size(2), stride = 1, count = 1;
      out_size = windows_per_task = B;
      tasks = 1;
      layout = {steps * B, B, 1, nullptr, 0, reverse};
    } else {
      TORCH_CHECK(mode == 2 || mode == 3, "fastgrnn_cpu: mode must be 0, 2 or 3");
      TORCH_CHECK(src.dim() == 4, "fastgrnn_cpu: expected a (H, N, A, B) map");
      N = src.size(1), A = src.size(2), B = src.size(3), steps = steps_, stride = stride_;
      const int64_t along = mode == 2 ? A : B, lanes = mode == 2 ? B : A;
      TORCH_CHECK(steps >= 1 && stride >= 1 && along >= steps, "fastgrnn_cpu: bad windows");
      count = (along - steps) / stride + 1;
      out_size = N * count * lanes;
      layout = {N * A * B, mode == 2 ? B : 1, 0, nullptr, 0, reverse};
      if (mode == 2) {
        windows_per_task = count * B;
        tasks = N;
      } else {
        // The fewest rows whose windows fill their tiles but for at most 1/32 of the lanes:
        // small tasks, so that threads share even a short map (RNN2's) evenly; at most
        // 64 / gcd(64, count) rows, whose windows fill whole tiles.
        int64_t rows = kTile / std::gcd(kTile, count);
        for (int64_t r = 1; r < rows; ++r) {
          const int64_t lanes = (r * count + kTile - 1) / kTile * kTile;
          if ((lanes - r * count) * 32 <= lanes) {
            rows = r;
            break;
          }
        }
        windows_per_task = rows * count;
        tasks = (N * A + rows - 1) / rows;
      }
    }
    tiles_per_task = (windows_per_task + kTile - 1) / kTile;
    if (!backward || mode == 0) {  // every tile a task (plain inputs never overlap)
      tasks = (out_size + kTile - 1) / kTile;
      windows_per_task = kTile;
      tiles_per_task = 1;
    }
  }

  struct Tile {
    int64_t m0, width;
  };

  // Tile w of a task (width 0: none); for modes 2 / 3 fills runs (at most kTile) and sets
  // num_runs.
  Tile tile(int64_t task, int64_t w, LaneRun* runs, int64_t* num_runs) const {
    const int64_t m_end = std::min(out_size, (task + 1) * windows_per_task);
    const int64_t m0 = task * windows_per_task + w * kTile;
    const int64_t width = std::max<int64_t>(0, std::min(kTile, m_end - m0));
    int64_t n = 0;
    if (mode == 2) {
      for (int64_t c = 0; c < width; ++n) {  // window (n, i, b): neighbours along b
        const int64_t m = m0 + c, b = m % B, ni = m / B;
        const int64_t len = std::min(width - c, B - b);
        runs[n] = {c, len, (ni / count) * A * B + (ni % count) * stride * B + b, 1};
        c += len;
      }
    } else if (mode == 3) {
      for (int64_t c = 0; c < width; ++n) {  // window (row m / count, start (m % count) * stride)
        const int64_t m = m0 + c, w = m % count;
        const int64_t len = std::min(width - c, count - w);
        runs[n] = {c, len, (m / count) * B + w * stride, stride};
        c += len;
      }
    }
    *num_runs = n;
    return {m0, width};
  }
};

// Last hidden state (H, L) of FastGRNN run from the zero state over the sequences of Plan.
at::Tensor fastgrnn_forward(const at::Tensor& src, int64_t mode, int64_t steps, int64_t stride,
                            bool reverse, const at::Tensor& U, const at::Tensor& bias_delta,
                            double sig_zeta,
                            double sig_sum, bool quant) {
  check_inputs(src, U, bias_delta);
  const Plan plan(src, static_cast<int>(mode), steps, stride, reverse, false);
  const int64_t H = src.size(0), L = plan.out_size;
  at::Tensor out = at::empty({H, L}, src.options());
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "fastgrnn_forward", [&] {
    Cell<scalar_t> cell = make_cell<scalar_t>(src, U, at::Tensor(), bias_delta, sig_zeta,
                                              sig_sum, quant);
    cell.steps = plan.steps;
    cell.layout = plan.layout;
    const scalar_t* x = src.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, plan.tasks, 1, [&](int64_t begin, int64_t end) {
      const int64_t block = H * kTile;
      // pre, z, h~, h (two slots); a torch allocation, so that memory profilers see it.
      at::Tensor buffer = at::empty({5 * block}, src.options());
      scalar_t* pre = buffer.data_ptr<scalar_t>();
      std::vector<LaneRun> runs(kTile);
      Cell<scalar_t> local = cell;
      if (plan.mode != 0) local.layout.runs = runs.data();
      for (int64_t task = begin; task < end; ++task)
        for (int64_t w = 0; w < plan.tiles_per_task; ++w) {
          const Plan::Tile tile = plan.tile(task, w, runs.data(), &local.layout.num_runs);
          if (tile.width == 0) break;
          const int64_t base = plan.mode == 0 ? tile.m0 : 0;
          const scalar_t* h = tile_forward(local, x, base, tile.width, false, pre,
                                           pre + block, pre + 2 * block, pre + 3 * block);
          for (int64_t i = 0; i < H; ++i)
            std::memcpy(o + i * L + tile.m0, h + i * 2 * kTile, tile.width * sizeof(scalar_t));
        }
    });
  });
  return out;
}

// Gradients of fastgrnn_forward's output with respect to its step inputs (shaped like src),
// U, bias_delta, sig_zeta and sig_sum ((H, 1), (1,), (1,)), recomputing the forward steps
// tile by tile.
std::vector<at::Tensor> fastgrnn_backward(const at::Tensor& grad_out, const at::Tensor& src,
                                          int64_t mode, int64_t steps, int64_t stride,
                                          bool reverse, const at::Tensor& U,
                                          const at::Tensor& bias_delta,
                                          double sig_zeta, double sig_sum, bool quant,
                                          const c10::optional<at::Tensor>& grad_into) {
  check_inputs(src, U, bias_delta);
  const Plan plan(src, static_cast<int>(mode), steps, stride, reverse, true);
  const int64_t H = src.size(0), L = plan.out_size;
  TORCH_CHECK(grad_out.dim() == 2 && grad_out.size(0) == H && grad_out.size(1) == L &&
                  grad_out.is_contiguous() && grad_out.scalar_type() == src.scalar_type(),
              "fastgrnn_cpu: grad_out must be contiguous (H, L)");
  // Plain inputs get each gradient element once; windows of a map add up, into grad_into
  // where given (several window sets of one map share one gradient: no zero fill and sum each).
  at::Tensor grad_src;
  if (grad_into.has_value() && grad_into->defined()) {
    TORCH_CHECK(plan.mode != 0, "fastgrnn_cpu: grad_into is for windows of a map");
    TORCH_CHECK(grad_into->sizes() == src.sizes() && grad_into->is_contiguous() &&
                    grad_into->scalar_type() == src.scalar_type() && grad_into->device().is_cpu(),
                "fastgrnn_cpu: grad_into must be a contiguous CPU tensor shaped like the map");
    grad_src = *grad_into;
  } else {
    grad_src = plan.mode == 0 ? at::empty_like(src) : at::zeros_like(src);
  }
  const at::Tensor Ut = U.t().contiguous();
  const int threads = at::get_num_threads();
  // Per-thread sums in double: grad U (H*H), grad bias_delta (H), sig_zeta, sig_sum.
  std::vector<std::vector<double>> sums(threads, std::vector<double>(H * H + H + 2, 0.0));
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "fastgrnn_backward", [&] {
    Cell<scalar_t> cell = make_cell<scalar_t>(src, U, Ut, bias_delta, sig_zeta, sig_sum, quant);
    cell.steps = plan.steps;
    cell.layout = plan.layout;
    cell.accumulate = plan.mode != 0;
    const scalar_t* x = src.data_ptr<scalar_t>();
    const scalar_t* go = grad_out.data_ptr<scalar_t>();
    scalar_t* gx = grad_src.data_ptr<scalar_t>();
    at::parallel_for(0, plan.tasks, 1, [&](int64_t begin, int64_t end) {
      std::vector<double>& sum = sums[at::get_thread_num()];
      const int64_t block = H * kTile;
      at::Tensor workspace =
          at::empty({backward_workspace_size(cell) + block}, src.options());
      scalar_t* g = workspace.data_ptr<scalar_t>();
      std::vector<LaneRun> runs(kTile);
      Cell<scalar_t> local = cell;
      if (plan.mode != 0) local.layout.runs = runs.data();
      for (int64_t task = begin; task < end; ++task)
        for (int64_t w = 0; w < plan.tiles_per_task; ++w) {
          const Plan::Tile tile = plan.tile(task, w, runs.data(), &local.layout.num_runs);
          if (tile.width == 0) break;
          for (int64_t i = 0; i < H; ++i) {
            scalar_t* to = g + i * kTile;
            std::memcpy(to, go + i * L + tile.m0, tile.width * sizeof(scalar_t));
            std::fill(to + tile.width, to + kTile, scalar_t(0));
          }
          const int64_t base = plan.mode == 0 ? tile.m0 : 0;
          tile_backward(local, x, g, gx, base, tile.width, g + block, sum.data());
        }
    });
  });
  at::Tensor totals = at::zeros({H * H + H + 2}, src.options().dtype(at::kDouble));
  double* total = totals.data_ptr<double>();
  for (const auto& s : sums)
    for (int64_t e = 0; e < H * H + H + 2; ++e) total[e] += s[e];
  totals = totals.to(src.scalar_type());
  at::Tensor grad_U = totals.narrow(0, 0, H * H).view({H, H});
  at::Tensor grad_bias_delta = totals.narrow(0, H * H, H).view({H, 1});
  at::Tensor grad_sig_zeta = totals.narrow(0, H * H + H, 1);
  at::Tensor grad_sig_sum = totals.narrow(0, H * H + H + 1, 1);
  return {grad_src, grad_U, grad_bias_delta, grad_sig_zeta, grad_sig_sum};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("fastgrnn_forward", &fastgrnn_forward,
        "FastGRNN last state over plain (H, T, M) step inputs or the windows of a map");
  m.def("fastgrnn_backward", &fastgrnn_backward, "Gradients of fastgrnn_forward (recomputing)",
        py::arg("grad_out"), py::arg("src"), py::arg("mode"), py::arg("steps"), py::arg("stride"),
        py::arg("reverse"), py::arg("U"), py::arg("bias_delta"), py::arg("sig_zeta"),
        py::arg("sig_sum"), py::arg("quant"), py::arg("grad_into") = py::none());
}
