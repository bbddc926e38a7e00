/*
 * rp_conv.c - int8 regular convolution (any kernel, stride, padding), row by row.
 */
#include "rp_internal.h"
#include "rp_nn.h"

static int conv_layer_valid(const rp_conv_layer *l)
{
    return l->kernel_h > 0 && l->kernel_h <= RP_MAX_KERNEL && l->kernel_w > 0 && l->stride_h > 0 &&
           l->stride_w > 0 && l->in.c > 0 && l->out.c > 0 && l->weights != NULL &&
           l->quant.multiplier != NULL && l->quant.rshift != NULL;
}

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

rp_status rp_conv_s8_row(const rp_conv_layer *l, const int8_t *const *rows, int8_t *out_row)
{
    if (l == NULL || rows == NULL || out_row == NULL || !conv_layer_valid(l)) {
        return RP_ARG_ERROR;
    }
    const int32_t cin = l->in.c;
    const int32_t kh = l->kernel_h, kw = l->kernel_w;
    const int32_t off = l->input_offset;
    for (int32_t ox = 0; ox < l->out.w; ox++) {
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
            int32_t v = rp_requantize(acc, l->quant.multiplier[co], l->quant.rshift[co]);
            v = rp_clamp(v, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
            out_row[(size_t)ox * l->out.c + co] = (int8_t)rp_clamp(v, l->act_min, l->act_max);
        }
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
