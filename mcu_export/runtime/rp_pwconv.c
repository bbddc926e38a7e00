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

/* Requantises one accumulator to the layer's int8 output. */
static inline int8_t pw_output(const rp_conv_layer *l, int32_t acc, int32_t mult, int32_t rshift)
{
    int32_t v = rp_requantize(acc, mult, rshift);
    v = rp_clamp(v, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
    return (int8_t)rp_clamp(v, l->act_min, l->act_max);
}

/* bias + input_offset * sum(w): the input offset enters once per output channel (folded at
 * export time where the layer has folded_bias: a streamed block calls this every few pixels). */
static int32_t pw_base(const rp_conv_layer *l, int32_t co)
{
    if (l->folded_bias != NULL) {
        return l->folded_bias[co];
    }
    const int8_t *w = l->weights + (size_t)co * l->in.c;
    int32_t base = l->bias != NULL ? l->bias[co] : 0;
    for (int32_t ci = 0; ci < l->in.c; ci++) {
        base += (int32_t)w[ci] * l->input_offset;
    }
    return base;
}

#if RP_USE_DSP
/* Two output channels x two pixels per pass: each SXTB16-unpacked word of weights or inputs
 * feeds two SMLADs (two MACs each), so 16 MACs cost 4 loads, 8 SXTB16 and 8 SMLAD. */
static void pw_block_2x2(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1,
                         int32_t cin, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t ci = 0;
    for (; ci + 4 <= cin; ci += 4) {
        const uint32_t xa = rp_load_u32(x0 + ci), xb = rp_load_u32(x1 + ci);
        const int32_t xa02 = __sxtb16(xa), xa13 = rp_sxtb16_odd(xa);
        const int32_t xb02 = __sxtb16(xb), xb13 = rp_sxtb16_odd(xb);
        uint32_t w = rp_load_u32(w0 + ci);
        int32_t w02 = __sxtb16(w), w13 = rp_sxtb16_odd(w);
        a00 = __smlad(xa02, w02, a00);
        a00 = __smlad(xa13, w13, a00);
        a10 = __smlad(xb02, w02, a10);
        a10 = __smlad(xb13, w13, a10);
        w = rp_load_u32(w1 + ci);
        w02 = __sxtb16(w);
        w13 = rp_sxtb16_odd(w);
        a01 = __smlad(xa02, w02, a01);
        a01 = __smlad(xa13, w13, a01);
        a11 = __smlad(xb02, w02, a11);
        a11 = __smlad(xb13, w13, a11);
    }
    for (; ci < cin; ci++) {
        a00 += (int32_t)w0[ci] * x0[ci];
        a01 += (int32_t)w1[ci] * x0[ci];
        a10 += (int32_t)w0[ci] * x1[ci];
        a11 += (int32_t)w1[ci] * x1[ci];
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}
#endif

/* sum w[ci] * x[ci] + acc (one pixel, one output channel). */
static inline int32_t pw_dot(const int8_t *x, const int8_t *w, int32_t cin, int32_t acc)
{
    int32_t ci = 0;
#if RP_USE_DSP
    for (; ci + 4 <= cin; ci += 4) {
        const uint32_t xv = rp_load_u32(x + ci), wv = rp_load_u32(w + ci);
        acc = __smlad(__sxtb16(xv), __sxtb16(wv), acc);
        acc = __smlad(rp_sxtb16_odd(xv), rp_sxtb16_odd(wv), acc);
    }
#endif
    for (; ci < cin; ci++) {
        acc += (int32_t)w[ci] * x[ci];
    }
    return acc;
}

rp_status rp_pwconv_s8_pixels(const rp_conv_layer *l, const int8_t *in, int32_t n_pixels,
                              int8_t *out)
{
    if (l == NULL || in == NULL || out == NULL || n_pixels < 0 || !pw_layer_valid(l)) {
        return RP_ARG_ERROR;
    }
    const int32_t cin = l->in.c, cout = l->out.c;
    const int32_t *mult = l->quant.multiplier;
    const int8_t *rshift = l->quant.rshift;
    int32_t co = 0;
#if RP_USE_DSP
    for (; co + 2 <= cout; co += 2) {
        const int8_t *w0 = l->weights + (size_t)co * cin, *w1 = w0 + cin;
        const int32_t base0 = pw_base(l, co), base1 = pw_base(l, co + 1);
        int32_t p = 0;
        for (; p + 2 <= n_pixels; p += 2) {
            const int8_t *x0 = in + (size_t)p * cin;
            int32_t acc[4] = {base0, base1, base0, base1};
            pw_block_2x2(x0, x0 + cin, w0, w1, cin, acc);
            int8_t *o = out + (size_t)p * cout + co;
            o[0] = pw_output(l, acc[0], mult[co], rshift[co]);
            o[1] = pw_output(l, acc[1], mult[co + 1], rshift[co + 1]);
            o[cout] = pw_output(l, acc[2], mult[co], rshift[co]);
            o[cout + 1] = pw_output(l, acc[3], mult[co + 1], rshift[co + 1]);
        }
        for (; p < n_pixels; p++) {
            const int8_t *x = in + (size_t)p * cin;
            int8_t *o = out + (size_t)p * cout + co;
            o[0] = pw_output(l, pw_dot(x, w0, cin, base0), mult[co], rshift[co]);
            o[1] = pw_output(l, pw_dot(x, w1, cin, base1), mult[co + 1], rshift[co + 1]);
        }
    }
#endif
    for (; co < cout; co++) {
        const int8_t *w = l->weights + (size_t)co * cin;
        const int32_t base = pw_base(l, co);
        for (int32_t p = 0; p < n_pixels; p++) {
            out[(size_t)p * cout + co] =
                pw_output(l, pw_dot(in + (size_t)p * cin, w, cin, base), mult[co], rshift[co]);
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
