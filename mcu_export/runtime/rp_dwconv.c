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

rp_status rp_dwconv_s8_row(const rp_conv_layer *l, const int8_t *const *rows, int8_t *out_row)
{
    if (l == NULL || rows == NULL || out_row == NULL || !dw_layer_valid(l)) {
        return RP_ARG_ERROR;
    }
    const int32_t c = l->in.c;
    const int32_t kh = l->kernel_h, kw = l->kernel_w;
    const int32_t off = l->input_offset;
    for (int32_t ox = 0; ox < l->out.w; ox++) {
        const int32_t ix0 = ox * l->stride_w - l->pad_left;
        for (int32_t ch = 0; ch < c; ch++) {
            int32_t acc = l->bias != NULL ? l->bias[ch] : 0;
            for (int32_t ky = 0; ky < kh; ky++) {
                const int8_t *row = rows[ky];
                for (int32_t kx = 0; kx < kw; kx++) {
                    const int32_t ix = ix0 + kx;
                    int32_t x;
                    if (row == NULL || ix < 0 || ix >= l->in.w) {
                        if (l->pad_values == NULL) {
                            continue;
                        }
                        x = l->pad_values[ch];
                    } else {
                        x = row[(size_t)ix * c + ch];
                    }
                    acc += (int32_t)l->weights[((size_t)ky * kw + kx) * c + ch] * (x + off);
                }
            }
            int32_t v = rp_requantize(acc, l->quant.multiplier[ch], l->quant.rshift[ch]);
            v = rp_clamp(v, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
            out_row[(size_t)ox * c + ch] = (int8_t)rp_clamp(v, l->act_min, l->act_max);
        }
    }
    return RP_OK;
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
