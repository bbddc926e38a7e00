// FastGRNN tile kernels for fastgrnn_cpu.cpp: plain C++ (no torch), GCC / Clang vector
// extensions for the small GEMMs. See fastgrnn_cpu.cpp for the layout and the equations.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace rnnpool_cpu {


constexpr int64_t kTile = 64;   // sequences per tile

// exp(x) for float, written so that the compiler vectorises it (no libm call): Cephes' expf
// polynomial after a range reduction by ln 2, about 1 ulp. Double uses std::exp.
inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline double exp_approx(double x) { return std::exp(std::min(std::max(x, -700.0), 700.0)); }

// z = sigmoid(p) and h~ = tanh(p + bd) with one exp: with e = exp(-p) and the per-row
// constant b = exp(-bd), tanh(p + bd) = 2 / (1 + (e b)^2) - 1. exp_approx clamps its argument,
// so e is finite and non-zero, and e b, (e b)^2 are never NaN (0 and inf give h~ = +-1).
template <typename T>
inline void gates(T p, T b, T& z, T& h_tilde) {
  const T e = exp_approx(-p);
  const T eb = e * b;
  z = T(1) / (T(1) + e);
  h_tilde = T(2) / (T(1) + eb * eb) - T(1);
}

// The small GEMMs of a tile use the compiler's vector extensions (GCC / Clang): a register
// block of R rows x NV vectors of C stays in registers while k runs. The vector width follows
// the instruction set the file is compiled for (cpu_kernels.py passes torch's own).
#if defined(__AVX512F__)
constexpr int kVecBytes = 64, kBlockRows = 8, kBlockVecs = 1;
#elif defined(__AVX__)
constexpr int kVecBytes = 32, kBlockRows = 6, kBlockVecs = 2;
#else
constexpr int kVecBytes = 16, kBlockRows = 4, kBlockVecs = 2;
#endif

template <typename T>
struct VecOf {
  typedef T type __attribute__((vector_size(kVecBytes)));
};

// C (R x n, ldc) += A (R x k, lda) B (k x n, ldb), all row-major.
template <typename T, int R>
inline void gemm_rows(int64_t n, int64_t k, const T* __restrict A, int64_t lda,
                      const T* __restrict B, int64_t ldb, T* __restrict C, int64_t ldc) {
  typedef typename VecOf<T>::type V;
  constexpr int64_t lanes = kVecBytes / sizeof(T);
  constexpr int64_t span = lanes * kBlockVecs;
  int64_t c0 = 0;
  for (; c0 + span <= n; c0 += span) {
    V acc[R][kBlockVecs];
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < kBlockVecs; ++v)
        std::memcpy(&acc[r][v], C + r * ldc + c0 + v * lanes, sizeof(V));
    for (int64_t j = 0; j < k; ++j) {
      V b[kBlockVecs];
      for (int v = 0; v < kBlockVecs; ++v)
        std::memcpy(&b[v], B + j * ldb + c0 + v * lanes, sizeof(V));
      for (int r = 0; r < R; ++r) {
        const T a = A[r * lda + j];
        for (int v = 0; v < kBlockVecs; ++v) acc[r][v] += a * b[v];
      }
    }
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < kBlockVecs; ++v)
        std::memcpy(C + r * ldc + c0 + v * lanes, &acc[r][v], sizeof(V));
  }
  for (int r = 0; r < R; ++r)  // columns left over (n not a multiple of span)
    for (int64_t j = 0; j < k; ++j) {
      const T a = A[r * lda + j];
      for (int64_t c = c0; c < n; ++c) C[r * ldc + c] += a * B[j * ldb + c];
    }
}

// C (m x n, ldc) += A (m x k, lda) B (k x n, ldb), all row-major.
template <typename T>
void gemm_acc(int64_t m, int64_t n, int64_t k, const T* A, int64_t lda, const T* B,
              int64_t ldb, T* C, int64_t ldc) {
  int64_t i = 0;
  for (; i + kBlockRows <= m; i += kBlockRows)
    gemm_rows<T, kBlockRows>(n, k, A + i * lda, lda, B, ldb, C + i * ldc, ldc);
  for (; i < m; ++i) gemm_rows<T, 1>(n, k, A + i * lda, lda, B, ldb, C + i * ldc, ldc);
}

// C (m x n, ldc) += A (m x k, lda) B^T with B (n x k, ldb): dot products of rows, k a
// multiple of the vector length (the tail runs scalar).
template <typename T, int RA, int RB>
inline void gemm_nt_block(int64_t k, const T* __restrict A, int64_t lda, const T* __restrict B,
                          int64_t ldb, T* __restrict C, int64_t ldc) {
  typedef typename VecOf<T>::type V;
  constexpr int64_t lanes = kVecBytes / sizeof(T);
  V acc[RA][RB];
  for (int a = 0; a < RA; ++a)
    for (int b = 0; b < RB; ++b) acc[a][b] = V{} ;
  int64_t j = 0;
  for (; j + lanes <= k; j += lanes) {
    V va[RA], vb[RB];
    for (int a = 0; a < RA; ++a) std::memcpy(&va[a], A + a * lda + j, sizeof(V));
    for (int b = 0; b < RB; ++b) std::memcpy(&vb[b], B + b * ldb + j, sizeof(V));
    for (int a = 0; a < RA; ++a)
      for (int b = 0; b < RB; ++b) acc[a][b] += va[a] * vb[b];
  }
  for (int a = 0; a < RA; ++a)
    for (int b = 0; b < RB; ++b) {
      T sum = 0;
      for (int64_t l = 0; l < lanes; ++l) sum += acc[a][b][l];
      for (int64_t jj = j; jj < k; ++jj) sum += A[a * lda + jj] * B[b * ldb + jj];
      C[a * ldc + b] += sum;
    }
}

template <typename T>
void gemm_nt_acc(int64_t m, int64_t n, int64_t k, const T* A, int64_t lda, const T* B,
                 int64_t ldb, T* C, int64_t ldc) {
  constexpr int RA = 4, RB = 4;
  int64_t i = 0;
  for (; i + RA <= m; i += RA) {
    int64_t j = 0;
    for (; j + RB <= n; j += RB)
      gemm_nt_block<T, RA, RB>(k, A + i * lda, lda, B + j * ldb, ldb, C + i * ldc + j, ldc);
    for (; j + 2 <= n; j += 2)
      gemm_nt_block<T, RA, 2>(k, A + i * lda, lda, B + j * ldb, ldb, C + i * ldc + j, ldc);
    for (; j < n; ++j)
      gemm_nt_block<T, RA, 1>(k, A + i * lda, lda, B + j * ldb, ldb, C + i * ldc + j, ldc);
  }
  for (; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      gemm_nt_block<T, 1, 1>(k, A + i * lda, lda, B + j * ldb, ldb, C + i * ldc + j, ldc);
}

// A run of a tile's columns whose step inputs lie at equal distances: column c0 + j is at
// offset + j * stride (relative to the tile's base, row and step offsets).
struct LaneRun {
  int64_t c0, len, offset, stride;
};

// Where the step inputs of a tile's sequences are: element (row k, step t, column c) of a
// tile whose first element is at offset base lies at base + k * row_stride + t * step_stride
// + c * lane_stride, or, where runs are set, at the place its run gives. Plain (H, T, M)
// sequences: base = m0, row_stride = T * M, step_stride = M, lane_stride = 1. Windows of a
// (H, N, A, B) map (see fastgrnn_cpu.cpp) use the map's strides and runs (a tile's windows
// are a few runs of consecutive windows: neighbours along the map's rows, or window starts
// `stride` apart), so that the loads and stores are whole-vector copies or permutes.
struct Layout {
  int64_t row_stride, step_stride, lane_stride;
  const LaneRun* runs;  // if set: num_runs runs cover the tile's columns
  int64_t num_runs;
  bool reverse;         // step t reads element steps - 1 - t (a backward-order run)
};

// dst[j] = src[j * stride] and dst[j * stride] += src[j], j < len: scalar in general (AVX-512's
// gather instruction measured no faster than scalar loads); float on AVX-512 with stride 2..8
// (RNNPool's window steps) takes the 16 values of a vector from `stride` consecutive vectors
// with two-source permutes. Masked loads / stores touch only the elements of the run (masked-off
// lanes neither fault nor write), so neither reads nor writes leave it.
template <typename T>
inline void gather_strided(T* __restrict dst, const T* __restrict src, int64_t len,
                           int64_t stride) {
  for (int64_t j = 0; j < len; ++j) dst[j] = src[j * stride];
}

template <typename T>
inline void scatter_add_strided(T* __restrict dst, const T* __restrict src, int64_t len,
                                int64_t stride) {
  for (int64_t j = 0; j < len; ++j) dst[j * stride] += src[j];
}

// dst[j] = src[j] and dst[j] += src[j], j < len: short runs (up to a tile), inline (a libc
// memcpy call per run and row cost more than the step's product); masked AVX-512 for float.
template <typename T>
inline void copy_run(T* __restrict dst, const T* __restrict src, int64_t len) {
  for (int64_t j = 0; j < len; ++j) dst[j] = src[j];
}

template <typename T>
inline void add_run(T* __restrict dst, const T* __restrict src, int64_t len) {
  for (int64_t j = 0; j < len; ++j) dst[j] += src[j];
}

#if defined(__AVX512F__)
constexpr int64_t kMaxPermuteStride = 8;

// Per stride s in 2..8: gather: output lane j comes from element j s, in pair q = j s / 32 of
// the s vectors, at (j s) % 32; scatter: lane l of target vector v (element 16 v + l) receives
// value (16 v + l) / s where s divides 16 v + l.
struct StridedPermutes {
  __m512i gather_index[kMaxPermuteStride + 1][kMaxPermuteStride / 2];
  __mmask16 gather_lanes[kMaxPermuteStride + 1][kMaxPermuteStride / 2];
  __m512i scatter_index[kMaxPermuteStride + 1][kMaxPermuteStride];
  __mmask16 scatter_lanes[kMaxPermuteStride + 1][kMaxPermuteStride];

  StridedPermutes() {
    alignas(64) int32_t index[16];
    for (int64_t s = 2; s <= kMaxPermuteStride; ++s) {
      for (int64_t q = 0; q < (s + 1) / 2; ++q) {
        unsigned lanes = 0;
        for (int64_t j = 0; j < 16; ++j) {
          const int64_t at = j * s - 32 * q;
          index[j] = static_cast<int32_t>(at & 31);
          if (at >= 0 && at < 32) lanes |= 1u << j;
        }
        gather_index[s][q] = _mm512_load_si512(index);
        gather_lanes[s][q] = static_cast<__mmask16>(lanes);
      }
      for (int64_t v = 0; v < s; ++v) {
        unsigned lanes = 0;
        for (int64_t l = 0; l < 16; ++l) {
          const int64_t at = 16 * v + l;
          index[l] = static_cast<int32_t>(at / s);
          if (at % s == 0) lanes |= 1u << l;
        }
        scatter_index[s][v] = _mm512_load_si512(index);
        scatter_lanes[s][v] = static_cast<__mmask16>(lanes);
      }
    }
  }
};

inline const StridedPermutes& strided_permutes() {
  static const StridedPermutes permutes;
  return permutes;
}

inline __mmask16 first_lanes(int64_t n) {  // the lanes below n (n clamped to 0..16)
  return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                 : static_cast<__mmask16>(n <= 0 ? 0u : (1u << n) - 1u);
}

template <>
inline void copy_run<float>(float* __restrict dst, const float* __restrict src, int64_t len) {
  for (int64_t j = 0; j < len; j += 16) {
    const __mmask16 lanes = first_lanes(len - j);
    _mm512_mask_storeu_ps(dst + j, lanes, _mm512_maskz_loadu_ps(lanes, src + j));
  }
}

template <>
inline void add_run<float>(float* __restrict dst, const float* __restrict src, int64_t len) {
  for (int64_t j = 0; j < len; j += 16) {
    const __mmask16 lanes = first_lanes(len - j);
    _mm512_mask_storeu_ps(dst + j, lanes, _mm512_add_ps(_mm512_maskz_loadu_ps(lanes, dst + j),
                                                        _mm512_maskz_loadu_ps(lanes, src + j)));
  }
}

template <>
inline void gather_strided<float>(float* __restrict dst, const float* __restrict src, int64_t len,
                                  int64_t stride) {
  if (stride < 2 || stride > kMaxPermuteStride) {
    for (int64_t j = 0; j < len; ++j) dst[j] = src[j * stride];
    return;
  }
  const StridedPermutes& p = strided_permutes();
  for (int64_t j = 0; j < len; j += 16) {
    const int64_t count = std::min<int64_t>(16, len - j);
    const int64_t need = (count - 1) * stride + 1;  // elements spanned by this vector's values
    const float* base = src + j * stride;
    __m512 out = _mm512_setzero_ps();
    for (int64_t q = 0; 32 * q < need; ++q) {
      const __m512 lo = _mm512_maskz_loadu_ps(first_lanes(need - 32 * q), base + 32 * q);
      const __m512 hi = _mm512_maskz_loadu_ps(first_lanes(need - 32 * q - 16), base + 32 * q + 16);
      out = _mm512_mask_mov_ps(out, p.gather_lanes[stride][q],
                               _mm512_permutex2var_ps(lo, p.gather_index[stride][q], hi));
    }
    _mm512_mask_storeu_ps(dst + j, first_lanes(count), out);
  }
}

template <>
inline void scatter_add_strided<float>(float* __restrict dst, const float* __restrict src,
                                       int64_t len, int64_t stride) {
  if (stride < 2 || stride > kMaxPermuteStride) {
    for (int64_t j = 0; j < len; ++j) dst[j * stride] += src[j];
    return;
  }
  const StridedPermutes& p = strided_permutes();
  for (int64_t j = 0; j < len; j += 16) {
    const int64_t count = std::min<int64_t>(16, len - j);
    const int64_t need = (count - 1) * stride + 1;
    const __m512 values = _mm512_maskz_loadu_ps(first_lanes(count), src + j);
    float* base = dst + j * stride;
    for (int64_t v = 0; 16 * v < need; ++v) {
      const __mmask16 lanes = p.scatter_lanes[stride][v] & first_lanes(need - 16 * v);
      const __m512 add = _mm512_maskz_permutexvar_ps(lanes, p.scatter_index[stride][v], values);
      const __m512 target = _mm512_maskz_loadu_ps(lanes, base + 16 * v);
      _mm512_mask_storeu_ps(base + 16 * v, lanes, _mm512_add_ps(target, add));
    }
  }
}
#endif

template <typename T>
struct Cell {
  int64_t H, steps;
  Layout layout;
  bool accumulate;  // the backward adds to the inputs' gradient (else stores)
  const T* U;
  const T* Ut;  // U transposed (H, H), for the backward
  const T* bias_delta;
  T sig_zeta, sig_sum;
  bool quant;
};

// The elementwise part of one step of a tile, row (hidden unit) by row: pre (H, kTile) holds
// xb_t + U h_prev; writes z, h~ (row stride ld_zh) and h (row stride ld_h); h_prev is null at
// the first step (zero state).
template <typename T, bool Quant>
inline void step_rows(const Cell<T>& cell, const T* __restrict pre, const T* __restrict h_prev,
                      T* __restrict z_out, T* __restrict h_tilde_out, int64_t ld_zh,
                      T* __restrict h_out, int64_t ld_h) {
  const T sz = cell.sig_zeta, ss = cell.sig_sum;
  for (int64_t i = 0; i < cell.H; ++i) {
    const T bd = cell.bias_delta[i];
    const T b = std::exp(-bd);
    const T* p = pre + i * kTile;
    T* z = z_out + i * ld_zh;
    T* ht = h_tilde_out + i * ld_zh;
    T* h = h_out + i * ld_h;
    for (int64_t c = 0; c < kTile; ++c) {
      if (Quant) {
        z[c] = std::min(std::max(p[c] * T(0.5) + T(0.5), T(0)), T(1));
        ht[c] = std::min(std::max(p[c] + bd, T(-1)), T(1));
      } else {
        gates(p[c], b, z[c], ht[c]);
      }
    }
    if (h_prev == nullptr) {
      for (int64_t c = 0; c < kTile; ++c) h[c] = (ss - z[c] * sz) * ht[c];
    } else {
      const T* hp = h_prev + i * ld_h;
      for (int64_t c = 0; c < kTile; ++c) h[c] = ht[c] * ss + z[c] * (hp[c] - ht[c] * sz);
    }
  }
}

// Copies the step-t inputs of the tile at base (width columns) into pre (H, kTile), zero
// beyond width.
template <typename T>
inline void load_step(const Cell<T>& cell, const T* src, int64_t base, int64_t t, int64_t width,
                      T* pre) {
  const Layout& l = cell.layout;
  const int64_t step = l.reverse ? cell.steps - 1 - t : t;
  for (int64_t i = 0; i < cell.H; ++i) {
    const T* from = src + base + i * l.row_stride + step * l.step_stride;
    T* dst = pre + i * kTile;
    if (l.runs != nullptr) {
      for (int64_t r = 0; r < l.num_runs; ++r) {
        const LaneRun& run = l.runs[r];
        if (run.stride == 1)
          copy_run(dst + run.c0, from + run.offset, run.len);
        else
          gather_strided(dst + run.c0, from + run.offset, run.len, run.stride);
      }
    } else if (l.lane_stride == 1) {
      std::memcpy(dst, from, width * sizeof(T));
    } else {
      for (int64_t c = 0; c < width; ++c) dst[c] = from[c * l.lane_stride];
    }
    if (width < kTile) std::fill(dst + width, dst + kTile, T(0));
  }
}

// Adds (or stores, see Cell::accumulate) grad_pre (H, kTile) of step t to the step inputs'
// gradient, laid out as the inputs.
template <typename T>
inline void store_step_grad(const Cell<T>& cell, const T* grad_pre, int64_t ld, T* grad_src,
                            int64_t base, int64_t t, int64_t width) {
  const Layout& l = cell.layout;
  const int64_t step = l.reverse ? cell.steps - 1 - t : t;
  for (int64_t i = 0; i < cell.H; ++i) {
    T* to = grad_src + base + i * l.row_stride + step * l.step_stride;
    const T* from = grad_pre + i * ld;
    if (l.runs != nullptr) {
      for (int64_t r = 0; r < l.num_runs; ++r) {
        const LaneRun& run = l.runs[r];
        T* __restrict out = to + run.offset;
        const T* __restrict in = from + run.c0;
        if (run.stride == 1) {
          add_run(out, in, run.len);
        } else {
          scatter_add_strided(out, in, run.len, run.stride);
        }
      }
    } else if (!cell.accumulate && l.lane_stride == 1) {
      std::memcpy(to, from, width * sizeof(T));
    } else if (l.lane_stride == 1) {
      for (int64_t c = 0; c < width; ++c) to[c] += from[c];
    } else {
      for (int64_t c = 0; c < width; ++c) to[c * l.lane_stride] += from[c];
    }
  }
}

// Runs the steps of one tile. With keep_all, z / h~ / h of every step are kept, laid out
// (H, steps, kTile); otherwise z / h~ use one (H, kTile) slot and h alternates between the
// two slots of an (H, 2, kTile) buffer. Returns the last h (row stride: see h_stride).
template <typename T>
const T* tile_forward(const Cell<T>& cell, const T* xb, int64_t base, int64_t width, bool keep_all,
                      T* pre, T* z_all, T* ht_all, T* h_all) {
  const int64_t ld_zh = keep_all ? cell.steps * kTile : kTile;
  const int64_t ld_h = keep_all ? cell.steps * kTile : 2 * kTile;
  const T* h_prev = nullptr;
  for (int64_t t = 0; t < cell.steps; ++t) {
    load_step(cell, xb, base, t, width, pre);
    if (h_prev != nullptr)
      gemm_acc<T>(cell.H, kTile, cell.H, cell.U, cell.H, h_prev, ld_h, pre, kTile);
    T* z = z_all + (keep_all ? t * kTile : 0);
    T* ht = ht_all + (keep_all ? t * kTile : 0);
    T* h = h_all + (keep_all ? t : t % 2) * kTile;
    if (cell.quant)
      step_rows<T, true>(cell, pre, h_prev, z, ht, ld_zh, h, ld_h);
    else
      step_rows<T, false>(cell, pre, h_prev, z, ht, ld_zh, h, ld_h);
    h_prev = h;
  }
  return h_prev;
}

// Backward through one row (hidden unit) of one step of a tile: from g = dL/dh' and the
// step's z, h~ and h_prev (zeros at t = 0) to grad_pre = dL/dpre; accumulates the per-column
// terms of the sig_sum, sig_zeta and bias_delta gradients, and leaves g z in g.
template <typename T, bool Quant>
inline void backward_row(const Cell<T>& cell, const T* __restrict z, const T* __restrict ht,
                         T* __restrict g, const T* __restrict hp, T* __restrict grad_pre,
                         T* __restrict acc_ss, T* __restrict acc_sz, T* __restrict acc_bd) {
  const T sz = cell.sig_zeta, ss = cell.sig_sum;
  for (int64_t c = 0; c < kTile; ++c) {
    // h' = z h + (sig_sum - sig_zeta z) h~
    const T ght = g[c] * ht[c];
    acc_ss[c] += ght;
    acc_sz[c] += ght * z[c];
    const T grad_z = g[c] * hp[c] - sz * ght;
    T grad_pre_h = (ss - z[c] * sz) * g[c];
    T grad_pre_z;
    if (Quant) {
      grad_pre_h = (ht[c] > T(-1) && ht[c] < T(1)) ? grad_pre_h : T(0);
      grad_pre_z = (z[c] > T(0) && z[c] < T(1)) ? grad_z * T(0.5) : T(0);
    } else {
      grad_pre_h = grad_pre_h * (T(1) - ht[c] * ht[c]);
      grad_pre_z = grad_z * (T(1) - z[c]) * z[c];
    }
    acc_bd[c] += grad_pre_h;
    grad_pre[c] = grad_pre_z + grad_pre_h;
    g[c] *= z[c];  // the part of dL/dh_prev through h' = z h + ..., U^T grad_pre is added later
  }
}

template <typename T>
int64_t backward_workspace_size(const Cell<T>& cell) {
  const int64_t block = cell.H * kTile;
  return 3 * block + 3 * kTile + cell.H * cell.H + 4 * block * cell.steps;
}

// Backward of one tile (inputs at base, see Layout; g (H, kTile) holds dL/dh of its last
// step, zero beyond width, and is overwritten): adds the tile's input gradient to grad_src
// (laid out as the inputs) and its grad U (H * H), grad bias_delta (H), grad sig_zeta and
// grad sig_sum to sum (double).
template <typename T>
void tile_backward(const Cell<T>& cell, const T* x, T* g, T* gx, int64_t base,
                   int64_t width, T* workspace, double* sum) {
  const int64_t H = cell.H, steps = cell.steps;
  const int64_t block = H * kTile, ld = steps * kTile;
  // pre, g, per-column sums for bias_delta / sig_sum / sig_zeta, a zero row (h before the
  // first step), grad U of the tile, then grad_pre, z, h~ and h of every step (H, steps, kTile).
  T* pre = workspace;
  T* acc_bd = pre + 2 * block;
  T* acc_ss = acc_bd + block;
  T* acc_sz = acc_ss + kTile;
  T* zeros = acc_sz + kTile;
  T* gU = zeros + kTile;
  T* gp_all = gU + H * H;
  T* z_all = gp_all + H * ld;
  T* ht_all = z_all + H * ld;
  T* h_all = ht_all + H * ld;
  tile_forward(cell, x, base, width, true, pre, z_all, ht_all, h_all);
  std::fill(acc_bd, gp_all, T(0));
  for (int64_t t = steps - 1; t >= 0; --t) {
    for (int64_t i = 0; i < H; ++i) {
      const int64_t at = i * ld + t * kTile;
      const T* hp = t > 0 ? h_all + at - kTile : zeros;
      if (cell.quant)
        backward_row<T, true>(cell, z_all + at, ht_all + at, g + i * kTile, hp, gp_all + at,
                              acc_ss, acc_sz, acc_bd + i * kTile);
      else
        backward_row<T, false>(cell, z_all + at, ht_all + at, g + i * kTile, hp, gp_all + at,
                               acc_ss, acc_sz, acc_bd + i * kTile);
    }
    store_step_grad(cell, gp_all + t * kTile, ld, gx, base, t, width);
    if (t == 0) break;
    // g = g z + U^T grad_pre (the gradient reaching h of step t - 1).
    gemm_acc<T>(H, kTile, H, cell.Ut, H, gp_all + t * kTile, ld, g, kTile);
  }
  // grad U = sum over steps t >= 1 of grad_pre_t h_{t-1}^T: one product over the tile, as
  // dot products of rows (grad_pre and h of all steps lie along the rows; no transposed copy).
  const int64_t K = (steps - 1) * kTile;
  if (K > 0) gemm_nt_acc<T>(H, H, K, gp_all + kTile, ld, h_all, ld, gU, H);
  for (int64_t e = 0; e < H * H; ++e) sum[e] += gU[e];
  for (int64_t i = 0; i < H; ++i)
    for (int64_t c = 0; c < kTile; ++c) sum[H * H + i] += acc_bd[i * kTile + c];
  for (int64_t c = 0; c < kTile; ++c) {
    sum[H * H + H] -= acc_sz[c];
    sum[H * H + H + 1] += acc_ss[c];
  }
}

}  // namespace rnnpool_cpu
