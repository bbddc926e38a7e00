/*
 * rp_fc.c - int8 fully connected layer (per-output-channel requantisation).
 */
#include "rp_internal.h"
#include "rp_nn.h"

static int fc_valid(const rp_fc_layer *l)
{
    return l->in_features > 0 && l->in_features <= RP_FC_MAX_IN && l->out_features > 0 &&
           l->weights != NULL && l->quant.multiplier != NULL && l->quant.rshift != NULL &&
           l->input_offset >= -127 && l->input_offset <= 128;
}

static inline int8_t fc_output(const rp_fc_layer *l, int32_t acc, int32_t o)
{
    int32_t v = rp_requantize(acc, l->quant.multiplier[o], l->quant.rshift[o]);
    v = rp_clamp(v, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
    return (int8_t)rp_clamp(v, l->act_min, l->act_max);
}

/* acc + sum_{i in [i0, n)} w[i] (x[i] + off): the portable loop and the DSP path's tail. */
static inline int32_t fc_dot_tail(const int8_t *x, const int8_t *w, int32_t i0, int32_t n,
                                  int32_t off, int32_t acc)
{
    for (int32_t i = i0; i < n; i++) {
        acc += (int32_t)w[i] * ((int32_t)x[i] + off);
    }
    return acc;
}

rp_status rp_fc_s8(const rp_fc_layer *l, const int8_t *in, int8_t *out)
{
    if (l == NULL || in == NULL || out == NULL || !fc_valid(l)) {
        return RP_ARG_ERROR;
    }
    const int32_t n = l->in_features, off = l->input_offset;
    int32_t o = 0;
#if RP_USE_DSP
    /* Two output rows per pass: each word of four inputs is offset once into two int16 pairs
     * (SXTAB16, x + off in [-255, 255]) that meet both rows' SXTB16-unpacked weights in four
     * SMLADs: 8 MACs for 3 loads, 2 SXTAB16, 4 SXTB16 and 4 SMLAD. */
    const uint32_t off2 = rp_dup16(off);
    const int32_t n4 = n & ~3;
    for (; o + 2 <= l->out_features; o += 2) {
        const int8_t *w0 = l->weights + (size_t)o * n, *w1 = w0 + n;
        int32_t a0 = l->bias != NULL ? l->bias[o] : 0;
        int32_t a1 = l->bias != NULL ? l->bias[o + 1] : 0;
        for (int32_t i = 0; i < n4; i += 4) {
            const uint32_t xv = rp_load_u32(in + i);
            const int32_t x02 = (int32_t)__sxtab16(off2, xv), x13 = rp_sxtab16_odd(off2, xv);
            uint32_t wv = rp_load_u32(w0 + i);
            a0 = __smlad(x02, (int32_t)__sxtb16(wv), a0);
            a0 = __smlad(x13, rp_sxtb16_odd(wv), a0);
            wv = rp_load_u32(w1 + i);
            a1 = __smlad(x02, (int32_t)__sxtb16(wv), a1);
            a1 = __smlad(x13, rp_sxtb16_odd(wv), a1);
        }
        out[o] = fc_output(l, fc_dot_tail(in, w0, n4, n, off, a0), o);
        out[o + 1] = fc_output(l, fc_dot_tail(in, w1, n4, n, off, a1), o + 1);
    }
    for (; o < l->out_features; o++) {
        const int8_t *w = l->weights + (size_t)o * n;
        int32_t a = l->bias != NULL ? l->bias[o] : 0;
        for (int32_t i = 0; i < n4; i += 4) {
            const uint32_t xv = rp_load_u32(in + i), wv = rp_load_u32(w + i);
            a = __smlad((int32_t)__sxtab16(off2, xv), (int32_t)__sxtb16(wv), a);
            a = __smlad(rp_sxtab16_odd(off2, xv), rp_sxtb16_odd(wv), a);
        }
        out[o] = fc_output(l, fc_dot_tail(in, w, n4, n, off, a), o);
    }
#else
    for (; o < l->out_features; o++) {
        const int32_t a = l->bias != NULL ? l->bias[o] : 0;
        out[o] = fc_output(l, fc_dot_tail(in, l->weights + (size_t)o * n, 0, n, off, a), o);
    }
#endif
    return RP_OK;
}
