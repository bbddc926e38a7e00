/*
 * rp_internal.h - helpers shared by the runtime's kernels (not part of the public API).
 */
#ifndef RP_INTERNAL_H
#define RP_INTERNAL_H

#include "rp_simd.h"
#include "rp_types.h"

/* Round-half-up fixed-point scaling: (acc * mult + 2^(rshift-1)) >> rshift, saturated to int32.
 * The 64-bit product cannot overflow (|acc| < 2^31, mult < 2^31); >> on a negative int64 is an
 * arithmetic shift on every compiler this runtime targets (gcc, clang, arm-none-eabi-gcc).
 * Fast path, bit-identical: (p + 2^(r-1)) >> r == ((p >> (r-1)) + 1) >> 1, and for r >= 33 the
 * inner shift only needs the high word of p (|hi| < 2^30, so nothing saturates); a 32-bit
 * Cortex-M4 then does one SMULL and two 32-bit shifts instead of 64-bit shift sequences. */
static inline int32_t rp_requantize(int32_t acc, int32_t mult, int32_t rshift)
{
    const int64_t prod = (int64_t)acc * (int64_t)mult;
    if (rshift >= 33) {
        const int32_t hi = (int32_t)(prod >> 32);
        return ((hi >> (rshift - 33)) + 1) >> 1;
    }
    const int64_t res = (prod + ((int64_t)1 << (rshift - 1))) >> rshift;
    if (res > INT32_MAX) {
        return INT32_MAX;
    }
    if (res < INT32_MIN) {
        return INT32_MIN;
    }
    return (int32_t)res;
}

static inline int32_t rp_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

#define RP_ALIGN4(n) (((n) + 3u) & ~(size_t)3u)

/* Row kernels shared by the whole-map kernels, the MBConv block and the streamed front-end. */
rp_status rp_pwconv_s8_pixels(const rp_conv_layer *layer, const int8_t *in, int32_t n_pixels,
                              int8_t *out);
/* Output pixels [ox0, ox0 + n) of one depthwise output row. */
rp_status rp_dwconv_s8_pixels(const rp_conv_layer *layer, const int8_t *const *rows, int32_t ox0,
                              int32_t n, int8_t *out_px0);
/* The same with rows[ky] holding its row's columns from x0[ky] on (a partial row). */
rp_status rp_dwconv_s8_pixels_at(const rp_conv_layer *layer, const int8_t *const *rows,
                                 const int32_t *x0, int32_t ox0, int32_t n, int8_t *out_px0);

/* Inverted residual row pieces (rp_mbconv.c), shared by rp_mbconv_s8 and the streamed block
 * stage (rp_stream.c). The ring holds kernel_h expanded rows (row iy in slot iy % kernel_h). */
size_t rp_mbconv_ring_bytes(const rp_mbconv_layer *layer);
/* Scratch of the pixel passes: n depthwise (+ n projected, with a residual) pixels. */
size_t rp_mbconv_pixel_bytes(const rp_mbconv_layer *layer, int32_t n);
/* Non-zero when the block's parts fit together (channels, residual geometry, kernel size). */
int rp_mbconv_valid(const rp_mbconv_layer *layer);
int8_t *rp_mbconv_ring_row(const rp_mbconv_layer *layer, int8_t *ring, int32_t iy);
/* One output row: rows = the depthwise's kernel_h input rows (expanded rows, or the block's
 * input rows without an expansion; NULL = padding), res_row = input row oy (residual only).
 * Whole rows per pass when px_size allows, else RP_MBCONV_CHUNK pixels. */
rp_status rp_mbconv_s8_out_row(const rp_mbconv_layer *layer, const int8_t *const *rows,
                               const int8_t *res_row, void *px, size_t px_size, int8_t *out_row);

/* The streamed block keeps kernel_h - 1 expanded rows (row iy in slot iy % (kernel_h - 1)): the
 * last row of each window is expanded while the output row is computed, a few columns ahead of
 * the depthwise, and written over the window's first row as that row's columns retire. */
size_t rp_mbconv_stream_ring_bytes(const rp_mbconv_layer *layer);
int8_t *rp_mbconv_stream_ring_row(const rp_mbconv_layer *layer, int8_t *ring, int32_t iy);
/* Scratch of one fused pass of n output pixels: the expanded columns ahead of the depthwise,
 * then rp_mbconv_pixel_bytes(n). */
size_t rp_mbconv_fused_pixel_bytes(const rp_mbconv_layer *layer, int32_t n);
/* One output row of the streamed block: rows[0 .. kernel_h - 2] as in rp_mbconv_s8_out_row;
 * the window's last row is expanded from in_row (an input row) and ends up whole in slot,
 * which holds rows[0]'s data on entry (slot NULL when kernel_h == 1). RP_MBCONV_CHUNK
 * output pixels per pass. */
rp_status rp_mbconv_s8_out_row_fused(const rp_mbconv_layer *layer, const int8_t *const *rows,
                                     const int8_t *in_row, int8_t *slot, const int8_t *res_row,
                                     void *px, size_t px_size, int8_t *out_row);

#endif /* RP_INTERNAL_H */
