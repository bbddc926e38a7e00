/*
 * rp_pwconv.c - int8 1x1 convolution (stride 1, no padding) over a run of pixels.
 */
#include "rp_internal.h"
#include "rp_nn.h"

static int pw_layer_valid(const rp_conv_layer *l)
{
    return l->kernel_h == 1 && l->kernel_w == 1 && l->stride_h == 1 && l->stride_w == 1 &&
           l->pad_top == 0 && l->pad_left == 0 && l->in.c > 0 && l->out.c > 0 &&
           l->weights != NULL && l->quant.multiplier != NULL && l->quant.rshift != NULL;
}

rp_status rp_pwconv_s8_pixels(const rp_conv_layer *l, const int8_t *in, int32_t n_pixels,
                              int8_t *out)
{
    if (l == NULL || in == NULL || out == NULL || n_pixels < 0 || !pw_layer_valid(l)) {
        return RP_ARG_ERROR;
    }
    const int32_t cin = l->in.c, cout = l->out.c;
    for (int32_t co = 0; co < cout; co++) {
        const int8_t *w = l->weights + (size_t)co * cin;
        /* sum w * (x + off) = sum w * x + off * sum w: the offset term once per channel */
        int32_t base = l->bias != NULL ? l->bias[co] : 0;
        for (int32_t ci = 0; ci < cin; ci++) {
            base += (int32_t)w[ci] * l->input_offset;
        }
        const int32_t mult = l->quant.multiplier[co];
        const int32_t rshift = l->quant.rshift[co];
        for (int32_t p = 0; p < n_pixels; p++) {
            const int8_t *x = in + (size_t)p * cin;
            int32_t acc = base;
            for (int32_t ci = 0; ci < cin; ci++) {
                acc += (int32_t)w[ci] * x[ci];
            }
            int32_t v = rp_requantize(acc, mult, rshift);
            v = rp_clamp(v, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
            out[(size_t)p * cout + co] = (int8_t)rp_clamp(v, l->act_min, l->act_max);
        }
    }
    return RP_OK;
}

rp_status rp_pwconv_s8(const rp_conv_layer *l, const int8_t *in, int8_t *out)
{
    if (l == NULL || l->in.h != l->out.h || l->in.w != l->out.w) {
        return RP_ARG_ERROR;
    }
    return rp_pwconv_s8_pixels(l, in, l->in.h * l->in.w, out);
}
