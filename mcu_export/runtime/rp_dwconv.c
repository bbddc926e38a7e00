/*
 * rp_dwconv.c - int8 depthwise convolution (channel multiplier 1), row by row.
 */
#include "rp_internal.h"
#include "rp_nn.h"

static int dw_layer_valid(const rp_conv_layer *l)
{
    return l->kernel_h > 0 && l->kernel_h <= RP_MAX_KERNEL && l->kernel_w > 0 && l->stride_h > 0 &&
           l->stride_w > 0 && l->in.c > 0 && l->in.c == l->out.c && l->weights != NULL &&
           l->quant.multiplier != NULL && l->quant.rshift != NULL;
}

static inline int8_t dw_output(const rp_conv_layer *l, int32_t acc, int32_t ch)
{
    int32_t v = rp_requantize(acc, l->quant.multiplier[ch], l->quant.rshift[ch]);
    v = rp_clamp(v, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
    return (int8_t)rp_clamp(v, l->act_min, l->act_max);
}

/* One output pixel, channels [ch0, c), with padding (row NULL / column outside the map).
 * rows[ky] holds the row's columns from x0[ky] on (x0 NULL: from column 0). */
static void dw_pixel_generic(const rp_conv_layer *l, const int8_t *const *rows,
                             const int32_t *x0, int32_t ox, int32_t ch0, int8_t *out_px)
{
    const int32_t c = l->in.c, kh = l->kernel_h, kw = l->kernel_w, off = l->input_offset;
    const int32_t ix0 = ox * l->stride_w - l->pad_left;
    for (int32_t ch = ch0; ch < c; ch++) {
        int32_t acc = l->bias != NULL ? l->bias[ch] : 0;
        for (int32_t ky = 0; ky < kh; ky++) {
            const int8_t *row = rows[ky];
            const int32_t first = x0 != NULL ? x0[ky] : 0;
            for (int32_t kx = 0; kx < kw; kx++) {
                const int32_t ix = ix0 + kx;
                int32_t x;
                if (row == NULL || ix < 0 || ix >= l->in.w) {
                    if (l->pad_values == NULL) {
                        continue; /* padding at the zero point contributes nothing */
                    }
                    x = l->pad_values[ch];
                } else {
                    x = row[(size_t)(ix - first) * c + ch];
                }
                acc += (int32_t)l->weights[((size_t)ky * kw + kx) * c + ch] * (x + off);
            }
        }
        out_px[ch] = dw_output(l, acc, ch);
    }
}

#if RP_USE_DSP
/* One output pixel over the taps that fall inside the map, four channels per pass: SXTAB16 adds
 * the input offset to two sign-extended bytes at once, SMLABB / SMLATT accumulate one channel
 * each. win[ky] is the input pixel of tap (ky, kx0) or NULL for a padding row; taps [kx0, kx1)
 * of each row are inside. Padding at the zero point contributes nothing, so a border pixel is
 * the same sum over fewer taps. Returns the first channel left for the generic path (c % 4 of
 * them). */
static int32_t dw_pixel_dsp(const rp_conv_layer *l, const int8_t *const *win, int32_t kx0,
                            int32_t kx1, int8_t *out_px)
{
    const int32_t c = l->in.c, kh = l->kernel_h, kw = l->kernel_w;
    const uint32_t off2 = rp_dup16(l->input_offset);
    int32_t ch = 0;
    for (; ch + 4 <= c; ch += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        if (l->bias != NULL) {
            a0 = l->bias[ch];
            a1 = l->bias[ch + 1];
            a2 = l->bias[ch + 2];
            a3 = l->bias[ch + 3];
        }
        for (int32_t ky = 0; ky < kh; ky++) {
            if (win[ky] == NULL) {
                continue;
            }
            const int8_t *x = win[ky] + ch;
            const int8_t *w = l->weights + ((size_t)ky * kw + kx0) * c + ch;
            for (int32_t kx = kx0; kx < kx1; kx++, x += c, w += c) {
                const uint32_t xv = rp_load_u32(x), wv = rp_load_u32(w);
                const int32_t x02 = __sxtab16(off2, xv), x13 = rp_sxtab16_odd(off2, xv);
                const int32_t w02 = __sxtb16(wv), w13 = rp_sxtb16_odd(wv);
                a0 = __smlabb(x02, w02, a0);
                a2 = __smlatt(x02, w02, a2);
                a1 = __smlabb(x13, w13, a1);
                a3 = __smlatt(x13, w13, a3);
            }
        }
        out_px[ch] = dw_output(l, a0, ch);
        out_px[ch + 1] = dw_output(l, a1, ch + 1);
        out_px[ch + 2] = dw_output(l, a2, ch + 2);
        out_px[ch + 3] = dw_output(l, a3, ch + 3);
    }
    return ch;
}
#endif

rp_status rp_dwconv_s8_pixels_at(const rp_conv_layer *l, const int8_t *const *rows,
                                 const int32_t *x0, int32_t ox0, int32_t n, int8_t *out_px0)
{
    if (l == NULL || rows == NULL || out_px0 == NULL || !dw_layer_valid(l) || ox0 < 0 || n < 0 ||
        ox0 + n > l->out.w) {
        return RP_ARG_ERROR;
    }
    const int32_t c = l->in.c;
#if RP_USE_DSP
    int rows_present = 1;
    for (int32_t ky = 0; ky < l->kernel_h; ky++) {
        rows_present = rows_present && rows[ky] != NULL;
    }
    /* with padding values a border pixel needs them: the generic path */
    const int borders_dsp = l->pad_values == NULL;
#endif
    for (int32_t ox = ox0; ox < ox0 + n; ox++) {
        int8_t *out_px = out_px0 + (size_t)(ox - ox0) * c;
        int32_t ch0 = 0;
#if RP_USE_DSP
        const int32_t ix0 = ox * l->stride_w - l->pad_left;
        const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
        const int32_t kx1 = ix0 + l->kernel_w > l->in.w ? l->in.w - ix0 : l->kernel_w;
        if (borders_dsp || (rows_present && kx0 == 0 && kx1 == l->kernel_w)) {
            const int8_t *win[RP_MAX_KERNEL];
            for (int32_t ky = 0; ky < l->kernel_h; ky++) {
                win[ky] = rows[ky] == NULL || kx0 >= kx1
                              ? NULL
                              : rows[ky] + (size_t)(ix0 + kx0 - (x0 != NULL ? x0[ky] : 0)) * c;
            }
            ch0 = dw_pixel_dsp(l, win, kx0, kx1, out_px);
        }
#endif
        dw_pixel_generic(l, rows, x0, ox, ch0, out_px);
    }
    return RP_OK;
}

rp_status rp_dwconv_s8_pixels(const rp_conv_layer *l, const int8_t *const *rows, int32_t ox0,
                              int32_t n, int8_t *out_px0)
{
    return rp_dwconv_s8_pixels_at(l, rows, NULL, ox0, n, out_px0);
}

rp_status rp_dwconv_s8_row(const rp_conv_layer *l, const int8_t *const *rows, int8_t *out_row)
{
    if (l == NULL) {
        return RP_ARG_ERROR;
    }
    return rp_dwconv_s8_pixels(l, rows, 0, l->out.w, out_row);
}

rp_status rp_dwconv_s8(const rp_conv_layer *l, const int8_t *in, int8_t *out)
{
    const int8_t *rows[RP_MAX_KERNEL];
    if (l == NULL || in == NULL || out == NULL || !dw_layer_valid(l)) {
        return RP_ARG_ERROR;
    }
    const size_t in_row = (size_t)l->in.w * l->in.c;
    const size_t out_row = (size_t)l->out.w * l->out.c;
    for (int32_t oy = 0; oy < l->out.h; oy++) {
        for (int32_t ky = 0; ky < l->kernel_h; ky++) {
            const int32_t iy = oy * l->stride_h - l->pad_top + ky;
            rows[ky] = (iy >= 0 && iy < l->in.h) ? in + (size_t)iy * in_row : NULL;
        }
        rp_status st = rp_dwconv_s8_row(l, rows, out + (size_t)oy * out_row);
        if (st != RP_OK) {
            return st;
        }
    }
    return RP_OK;
}
