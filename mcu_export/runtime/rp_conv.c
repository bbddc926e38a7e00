/*
 * rp_conv.c - int8 regular convolution (any kernel, stride, padding), row by row.
 *
 * Every path sums the same int32 accumulator, bias + sum over (ky, kx, ci) of w * (x + offset),
 * in its own order (int32 addition does not notice), and requantises it as rp_requantize does:
 *  - border columns (kernel rows reaching into the left / right padding): one output channel
 *    at a time, one dot product per kernel row or tap (conv_pixels_any);
 *  - interior columns, blocked: four (then two, one) output channels per pass. A kernel row's
 *    kw * cin input bytes are contiguous in the input row and in the filter, so they form one
 *    vector whatever cin is (the stem's 3 or 4 channels included); on the DSP every four input
 *    bytes are offset once into two int16 pairs (SXTAB16) that feed SMLADs of all the block's
 *    channels.
 *    - small filters (the stem's and the 4-channel heads' 3x3 convs; limits below): the filter
 *      is expanded per call into int16 pairs on the stack (at most 320 bytes, no scratch
 *      argument), loaded two channels at a time (LDRD); padding rows (top / bottom) read a
 *      padding kernel row; kernel rows of 9 and 12 bytes are unrolled;
 *    - larger filters: the layer's int8 filter is unpacked in the loop (SXTB16); output rows
 *      with a padding row go one output channel at a time.
 *    The blocks requantise on a short path that holds when every channel's rshift >= 33 (the
 *    usual case); a layer with a smaller shift goes one output channel at a time.
 * The portable path (no DSP, the host) runs the same blocks with plain MACs.
 */
#include "rp_internal.h"
#include "rp_nn.h"

/* Limits of the small-filter path (stack): int16 pairs of one output channel's filter (all
 * kernel rows, conv_pairs each), and words of the expanded filter (cout x pairs). */
#define CONV_SMALL_PAIRS 20
#define CONV_SMALL_WORDS 80

static int conv_layer_valid(const rp_conv_layer *l)
{
    return l->kernel_h > 0 && l->kernel_h <= RP_MAX_KERNEL && l->kernel_w > 0 && l->stride_h > 0 &&
           l->stride_w > 0 && l->in.c > 0 && l->out.c > 0 && l->weights != NULL &&
           l->quant.multiplier != NULL && l->quant.rshift != NULL;
}

static inline int8_t conv_output(const rp_conv_layer *l, int32_t acc, int32_t co)
{
    int32_t v = rp_requantize(acc, l->quant.multiplier[co], l->quant.rshift[co]);
    v = rp_clamp(v, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
    return (int8_t)rp_clamp(v, l->act_min, l->act_max);
}

/* ---- any filter ---- */

/* acc + sum w[ci] * (x[ci] + off): on the DSP, SXTAB16 offsets two bytes and SMLAD does two
 * MACs, four input channels per pass. */
static inline int32_t conv_dot(const int8_t *x, const int8_t *w, int32_t cin, int32_t off,
                               int32_t acc)
{
    int32_t ci = 0;
#if RP_USE_DSP
    const uint32_t off2 = rp_dup16(off);
    for (; ci + 4 <= cin; ci += 4) {
        const uint32_t xv = rp_load_u32(x + ci), wv = rp_load_u32(w + ci);
        acc = __smlad(__sxtab16(off2, xv), __sxtb16(wv), acc);
        acc = __smlad(rp_sxtab16_odd(off2, xv), rp_sxtb16_odd(wv), acc);
    }
#endif
    for (; ci < cin; ci++) {
        acc += (int32_t)w[ci] * ((int32_t)x[ci] + off);
    }
    return acc;
}

/* Output pixels [ox_begin, ox_end), one output channel at a time (any padding). */
static __attribute__((noinline)) void conv_pixels_any(const rp_conv_layer *l,
                                                     const int8_t *const *rows, int32_t ox_begin,
                                                     int32_t ox_end, int8_t *out_row)
{
    const int32_t cin = l->in.c;
    const int32_t kh = l->kernel_h, kw = l->kernel_w;
    const int32_t off = l->input_offset;
    for (int32_t ox = ox_begin; ox < ox_end; ox++) {
        const int32_t ix0 = ox * l->stride_w - l->pad_left;
        for (int32_t co = 0; co < l->out.c; co++) {
            int32_t acc = l->bias != NULL ? l->bias[co] : 0;
            const int8_t *wco = l->weights + (size_t)co * kh * kw * cin;
            for (int32_t ky = 0; ky < kh; ky++) {
                const int8_t *row = rows[ky];
                if (row != NULL && ix0 >= 0 && ix0 + kw <= l->in.w) {
                    /* no padding in this kernel row: its kw * cin taps are contiguous in both
                     * the input row and the filter, one dot product covers them */
                    acc = conv_dot(row + (size_t)ix0 * cin, wco + (size_t)ky * kw * cin, kw * cin,
                                   off, acc);
                    continue;
                }
                for (int32_t kx = 0; kx < kw; kx++) {
                    const int8_t *w = wco + ((size_t)ky * kw + kx) * cin;
                    const int32_t ix = ix0 + kx;
                    const int8_t *x;
                    if (row == NULL || ix < 0 || ix >= l->in.w) {
                        if (l->pad_values == NULL) {
                            continue; /* padding at the zero point contributes nothing */
                        }
                        x = l->pad_values;
                    } else {
                        x = row + (size_t)ix * cin;
                    }
                    acc = conv_dot(x, w, cin, off, acc);
                }
            }
            out_row[(size_t)ox * l->out.c + co] = conv_output(l, acc, co);
        }
    }
}

/* ---- blocked paths ---- */

/* int16 pairs that hold n bytes on the DSP: every full group of four bytes as two pairs (the
 * even and the odd bytes, as SXTB16 / SXTAB16 split them), then the tail (n % 4 bytes) in order,
 * two per pair, the last pair's high lane zero in the filter when n is odd. */
static inline int32_t conv_pairs(int32_t n)
{
    return (n >> 2) * 2 + ((n & 3) + 1) / 2;
}

/* The small-filter path: one pixel's expanded filter fits the stack buffer, a kernel row fits
 * the padding buffers (n <= 2 * pairs per kernel row). */
static int conv_small_ok(const rp_conv_layer *l)
{
    const int32_t pairs = l->kernel_h * conv_pairs(l->kernel_w * l->in.c);
    return pairs <= CONV_SMALL_PAIRS && pairs * l->out.c <= CONV_SMALL_WORDS;
}

#if RP_USE_DSP
/* Full unrolling of the loops over a kernel row of constant size (gcc -O2 keeps them rolled). */
#if defined(__GNUC__) && !defined(__clang__)
#define CONV_UNROLL _Pragma("GCC unroll 8")
#else
#define CONV_UNROLL
#endif

/* a_c += pair t . the next filter pair of channel c, for the B (1, 2 or 4) channels of a block
 * (LDRD loads two channels' pairs); returns the filter position after them. The accumulators
 * are separate scalars so that they stay in registers. */
static inline __attribute__((always_inline)) const uint32_t *conv_mac_pairs(
    uint32_t t, const uint32_t *w, const int32_t B, int32_t *a0, int32_t *a1, int32_t *a2,
    int32_t *a3)
{
    uint32_t w0, w1;
    if (B == 1) {
        *a0 = __smlad(t, *w, *a0);
        return w + 1;
    }
    rp_ldrd_inc(&w, &w0, &w1);
    *a0 = __smlad(t, w0, *a0);
    *a1 = __smlad(t, w1, *a1);
    if (B > 2) {
        rp_ldrd_inc(&w, &w0, &w1);
        *a2 = __smlad(t, w0, *a2);
        *a3 = __smlad(t, w1, *a3);
    }
    return w;
}

/* The tail pair at x[i] (one or two bytes, + off): with one byte the high lane's filter value is
 * zero, so its content does not matter. */
static inline uint32_t conv_tail_pair(const int8_t *x, int32_t i, int32_t n, int32_t off)
{
    uint32_t t = (uint32_t)(x[i] + off);
    if (i + 1 < n) {
        t = (t & 0xFFFFu) | ((uint32_t)(x[i + 1] + off) << 16);
    }
    return t;
}

/* a_c += kernel row x (n bytes, + off) . channel c's filter row, for the B channels of a block,
 * the filter as int16 pairs (see conv_row_small); returns the next kernel row's filter. Four
 * input bytes become two offset pairs (SXTAB16) that feed B SMLADs each. unroll: n is a
 * constant, unroll the row completely. */
static inline __attribute__((always_inline)) const uint32_t *conv_dot_row_pairs(
    const int8_t *x, const int32_t n, uint32_t off2, int32_t off, const uint32_t *w,
    const int32_t B, const int unroll, int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3)
{
    int32_t i = 0;
    if (unroll) {
        CONV_UNROLL
        for (; i + 4 <= n; i += 4) {
            const uint32_t v = rp_load_u32(x + i);
            w = conv_mac_pairs((uint32_t)__sxtab16(off2, v), w, B, a0, a1, a2, a3);
            w = conv_mac_pairs((uint32_t)rp_sxtab16_odd(off2, v), w, B, a0, a1, a2, a3);
        }
        CONV_UNROLL
        for (; i < n; i += 2) {
            w = conv_mac_pairs(conv_tail_pair(x, i, n, off), w, B, a0, a1, a2, a3);
        }
        return w;
    }
    for (; i + 4 <= n; i += 4) {
        const uint32_t v = rp_load_u32(x + i);
        w = conv_mac_pairs((uint32_t)__sxtab16(off2, v), w, B, a0, a1, a2, a3);
        w = conv_mac_pairs((uint32_t)rp_sxtab16_odd(off2, v), w, B, a0, a1, a2, a3);
    }
    for (; i < n; i += 2) {
        w = conv_mac_pairs(conv_tail_pair(x, i, n, off), w, B, a0, a1, a2, a3);
    }
    return w;
}
#endif

/* The same with the layer's int8 filter (channel c's row at w + c * stride): on the DSP the
 * filter bytes are unpacked with SXTB16 in the loop, the input pairs shared by the B channels. */
static inline __attribute__((always_inline)) void conv_dot_row_s8(
    const int8_t *x, int32_t n, int32_t off, const int8_t *w, int32_t stride, const int32_t B,
    int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3)
{
    int32_t i = 0;
#if RP_USE_DSP
    const uint32_t off2 = rp_dup16(off);
    for (; i + 4 <= n; i += 4) {
        const uint32_t v = rp_load_u32(x + i);
        const uint32_t even = (uint32_t)__sxtab16(off2, v), odd = (uint32_t)rp_sxtab16_odd(off2, v);
        uint32_t f = rp_load_u32(w + i);
        *a0 = __smlad(even, (uint32_t)__sxtb16(f), *a0);
        *a0 = __smlad(odd, (uint32_t)rp_sxtb16_odd(f), *a0);
        if (B > 1) {
            f = rp_load_u32(w + stride + i);
            *a1 = __smlad(even, (uint32_t)__sxtb16(f), *a1);
            *a1 = __smlad(odd, (uint32_t)rp_sxtb16_odd(f), *a1);
        }
        if (B > 2) {
            f = rp_load_u32(w + 2 * stride + i);
            *a2 = __smlad(even, (uint32_t)__sxtb16(f), *a2);
            *a2 = __smlad(odd, (uint32_t)rp_sxtb16_odd(f), *a2);
            f = rp_load_u32(w + 3 * stride + i);
            *a3 = __smlad(even, (uint32_t)__sxtb16(f), *a3);
            *a3 = __smlad(odd, (uint32_t)rp_sxtb16_odd(f), *a3);
        }
    }
#endif
    for (; i < n; i++) {
        const int32_t v = x[i] + off;
        *a0 += v * w[i];
        if (B > 1) {
            *a1 += v * w[stride + i];
        }
        if (B > 2) {
            *a2 += v * w[2 * stride + i];
            *a3 += v * w[3 * stride + i];
        }
    }
}

/* An output of the blocked paths, whose channels all have rshift >= 33 (the usual case):
 * rp_requantize is ((hi32(acc * mult) >> (rshift - 33)) + 1) >> 1 there, |hi32| < 2^30, nothing
 * saturates, and adding the output offset before the last shift (qa = 1 + 2 * out_off,
 * qs = rshift - 33) gives the same value. */
static inline int8_t conv_out_hi(int32_t acc, int32_t mult, int32_t qs, int32_t qa, int32_t lo,
                                 int32_t hi)
{
    const int32_t v = (((int32_t)(((int64_t)acc * mult) >> 32) >> qs) + qa) >> 1;
    return (int8_t)rp_clamp(v, lo, hi);
}

/* A kernel row of padding: the layer's padding values, or its zero point -input_offset (such a
 * tap contributes nothing, as in the reference). */
static void conv_pad_row(const rp_conv_layer *l, int8_t *dst)
{
    const int32_t cin = l->in.c;
    for (int32_t kx = 0; kx < l->kernel_w; kx++) {
        for (int32_t ci = 0; ci < cin; ci++) {
            dst[kx * cin + ci] =
                l->pad_values != NULL ? l->pad_values[ci] : (int8_t)(-l->input_offset);
        }
    }
}

/* Where a block's kernel rows come from and which filter it reads. */
typedef struct {
    const int8_t *const *rows; /* kernel_h input rows, NULL = padding row */
    const int8_t *padrow;      /* a padding kernel row (when some rows are NULL) */
    const void *w;             /* expanded pairs (DSP small path) or the layer's weights */
    int32_t stride;            /* filter elements per output channel */
} conv_src;

/* Output pixels [ox_begin, ox_end) of output channels [c0, c0 + B), B accumulators per pixel,
 * kernel row by kernel row; the pixels' columns lie inside the input, padding rows come from
 * src->padrow. pairs: the filter is expanded (DSP small path); unroll: n is a constant.
 * Inlined with constant B, pairs, unroll. */
static inline __attribute__((always_inline)) void conv_pixels(
    const rp_conv_layer *l, const conv_src *src, int32_t c0, const int32_t B, const int pairs,
    const int32_t n, const int unroll, int32_t ox_begin, int32_t ox_end, int8_t *out_row)
{
    const int32_t cin = l->in.c, cout = l->out.c, kh = l->kernel_h, sw = l->stride_w;
    const int32_t off = l->input_offset, out_off = l->output_offset;
    const int32_t lo = l->act_min, hi = l->act_max;
    const int32_t *mult = l->quant.multiplier + c0;
    const int8_t *rshift = l->quant.rshift + c0;
    const int32_t *bias = l->bias != NULL ? l->bias + c0 : NULL;
#if RP_USE_DSP
    const uint32_t off2 = rp_dup16(off);
    const uint32_t *wp0 = (const uint32_t *)src->w + c0 * src->stride;
#else
    (void)pairs; /* no expanded filter on the portable path */
    (void)unroll;
#endif
    const int8_t *ws0 = (const int8_t *)src->w + c0 * src->stride;
    int32_t qs[4] = {0, 0, 0, 0};
    for (int32_t c = 0; c < B; c++) {
        qs[c] = rshift[c] - 33;
    }
    const int32_t qa = 1 + 2 * out_off;
    for (int32_t ox = ox_begin; ox < ox_end; ox++) {
        const int32_t ix0 = ox * sw - l->pad_left;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        if (bias != NULL) {
            a0 = bias[0];
            a1 = B > 1 ? bias[1] : 0;
            a2 = B > 2 ? bias[2] : 0;
            a3 = B > 2 ? bias[3] : 0;
        }
#if RP_USE_DSP
        const uint32_t *wp = wp0;
#endif
        const int8_t *ws = ws0;
        for (int32_t ky = 0; ky < kh; ky++) {
            const int8_t *row = src->rows[ky];
            const int8_t *x = row != NULL ? row + (size_t)ix0 * cin : src->padrow;
#if RP_USE_DSP
            if (pairs) {
                wp = conv_dot_row_pairs(x, n, off2, off, wp, B, unroll, &a0, &a1, &a2, &a3);
                continue;
            }
#endif
            conv_dot_row_s8(x, n, off, ws, src->stride, B, &a0, &a1, &a2, &a3);
            ws += n;
        }
        int8_t *o = out_row + (size_t)ox * cout + c0;
        o[0] = conv_out_hi(a0, mult[0], qs[0], qa, lo, hi);
        if (B > 1) {
            o[1] = conv_out_hi(a1, mult[1], qs[1], qa, lo, hi);
        }
        if (B > 2) {
            o[2] = conv_out_hi(a2, mult[2], qs[2], qa, lo, hi);
            o[3] = conv_out_hi(a3, mult[3], qs[3], qa, lo, hi);
        }
    }
}

/* Output columns [ox_a, ox_b) whose kernel rows lie inside the input columns. */
static void conv_interior(const rp_conv_layer *l, int32_t *ox_a, int32_t *ox_b)
{
    const int32_t sw = l->stride_w, last = l->in.w - l->kernel_w + l->pad_left;
    int32_t a = (l->pad_left + sw - 1) / sw, b = last >= 0 ? last / sw + 1 : 0;
    a = a < l->out.w ? a : l->out.w;
    b = b < l->out.w ? b : l->out.w;
    *ox_a = a;
    *ox_b = b > a ? b : a;
}

/* One block of B output channels of the small path, the stem's and heads' kernel rows (3x3 on
 * 3 or 4 channels) as constants for blocks of 4. */
static inline __attribute__((always_inline)) void conv_small_block(
    const rp_conv_layer *l, const conv_src *src, int32_t c0, const int32_t B, int32_t ox_a,
    int32_t ox_b, int8_t *out_row)
{
    const int pairs = RP_USE_DSP;
    const int32_t n = l->kernel_w * l->in.c;
    if (RP_USE_DSP && B == 4 && n == 9) {
        conv_pixels(l, src, c0, B, pairs, 9, 1, ox_a, ox_b, out_row);
    } else if (RP_USE_DSP && B > 1 && n == 12) {
        conv_pixels(l, src, c0, B, pairs, 12, 1, ox_a, ox_b, out_row);
    } else {
        conv_pixels(l, src, c0, B, pairs, n, 0, ox_a, ox_b, out_row);
    }
}

/* Small filters, interior columns [ox_a, ox_b), padding rows from padrow (a padding kernel
 * row). On the DSP the filter is first expanded to int16 pairs on the stack: block of B
 * channels from c0, pair j of channel c0 + c at wx[c0 * P + j * B + c], P = pairs per channel,
 * in the order conv_dot_row_pairs makes of the inputs. Not inlined: its stack frame (the
 * expanded filter) exists only while it runs, not under the border columns' one. */
static __attribute__((noinline)) void conv_row_small(const rp_conv_layer *l,
                                                    const int8_t *const *rows, int32_t ox_a,
                                                    int32_t ox_b, int8_t *out_row)
{
    const int32_t cin = l->in.c, cout = l->out.c, kh = l->kernel_h;
    const int32_t n = l->kernel_w * cin;
    int8_t padrow[2 * CONV_SMALL_PAIRS];
    conv_src src = {rows, padrow, l->weights, kh * n};
#if RP_USE_DSP
    uint32_t wx[CONV_SMALL_WORDS];
    src.w = wx;
    src.stride = kh * conv_pairs(n);
    for (int32_t c0 = 0, B = 4; c0 < cout; c0 += B) {
        while (c0 + B > cout) {
            B >>= 1;
        }
        for (int32_t c = 0; c < B; c++) {
            const int8_t *w = l->weights + (size_t)(c0 + c) * kh * n;
            uint32_t *dst = wx + c0 * src.stride + c;
            for (int32_t i = 0; i < kh * n; i += n) {
                int32_t k = 0;
                for (; k + 4 <= n; k += 4, dst += 2 * B) {
                    const uint32_t v = rp_load_u32(w + i + k);
                    dst[0] = (uint32_t)__sxtb16(v);
                    dst[B] = (uint32_t)rp_sxtb16_odd(v);
                }
                for (; k < n; k += 2, dst += B) {
                    const int32_t hi = k + 1 < n ? w[i + k + 1] : 0;
                    dst[0] = ((uint32_t)w[i + k] & 0xFFFFu) | ((uint32_t)hi << 16);
                }
            }
        }
    }
#endif
    conv_pad_row(l, padrow);
    int32_t c0 = 0;
    for (; c0 + 4 <= cout; c0 += 4) {
        conv_small_block(l, &src, c0, 4, ox_a, ox_b, out_row);
    }
    if (c0 + 2 <= cout) {
        conv_small_block(l, &src, c0, 2, ox_a, ox_b, out_row);
        c0 += 2;
    }
    if (c0 < cout) {
        conv_small_block(l, &src, c0, 1, ox_a, ox_b, out_row);
    }
}

/* Larger filters, interior columns [ox_a, ox_b) of a row without padding rows, through the
 * blocked path with the layer's int8 filter. */
static __attribute__((noinline)) void conv_row_general(const rp_conv_layer *l,
                                                      const int8_t *const *rows, int32_t ox_a,
                                                      int32_t ox_b, int8_t *out_row)
{
    const int32_t cout = l->out.c, n = l->kernel_w * l->in.c;
    const conv_src src = {rows, NULL, l->weights, l->kernel_h * n};
    int32_t c0 = 0;
    for (; c0 + 4 <= cout; c0 += 4) {
        conv_pixels(l, &src, c0, 4, 0, n, 0, ox_a, ox_b, out_row);
    }
    if (c0 + 2 <= cout) {
        conv_pixels(l, &src, c0, 2, 0, n, 0, ox_a, ox_b, out_row);
        c0 += 2;
    }
    if (c0 < cout) {
        conv_pixels(l, &src, c0, 1, 0, n, 0, ox_a, ox_b, out_row);
    }
}

rp_status rp_conv_s8_row(const rp_conv_layer *l, const int8_t *const *rows, int8_t *out_row)
{
    if (l == NULL || rows == NULL || out_row == NULL || !conv_layer_valid(l)) {
        return RP_ARG_ERROR;
    }
    /* interior columns [ox_a, ox_b) through the blocked paths (the large-filter one only without
     * padding rows, both only when every rshift >= 33), the rest one output channel at a time;
     * the two calls' stack frames come one after the other */
    const int small = conv_small_ok(l);
    int32_t ox_a, ox_b;
    conv_interior(l, &ox_a, &ox_b);
    for (int32_t ky = 0; ky < l->kernel_h; ky++) {
        if (rows[ky] == NULL && !small) {
            ox_b = ox_a;
        }
    }
    for (int32_t co = 0; co < l->out.c; co++) {
        if (l->quant.rshift[co] < 33) {
            ox_b = ox_a; /* the blocks' short requantisation does not apply (rare) */
        }
    }
    conv_pixels_any(l, rows, 0, ox_a, out_row);
    conv_pixels_any(l, rows, ox_b, l->out.w, out_row);
    if (small) {
        conv_row_small(l, rows, ox_a, ox_b, out_row);
    } else {
        conv_row_general(l, rows, ox_a, ox_b, out_row);
    }
    return RP_OK;
}

rp_status rp_conv_s8(const rp_conv_layer *l, const int8_t *in, int8_t *out)
{
    const int8_t *rows[RP_MAX_KERNEL];
    if (l == NULL || in == NULL || out == NULL || !conv_layer_valid(l)) {
        return RP_ARG_ERROR;
    }
    const size_t in_row = (size_t)l->in.w * l->in.c;
    const size_t out_row = (size_t)l->out.w * l->out.c;
    for (int32_t oy = 0; oy < l->out.h; oy++) {
        for (int32_t ky = 0; ky < l->kernel_h; ky++) {
            const int32_t iy = oy * l->stride_h - l->pad_top + ky;
            rows[ky] = (iy >= 0 && iy < l->in.h) ? in + (size_t)iy * in_row : NULL;
        }
        rp_status st = rp_conv_s8_row(l, rows, out + (size_t)oy * out_row);
        if (st != RP_OK) {
            return st;
        }
    }
    return RP_OK;
}
