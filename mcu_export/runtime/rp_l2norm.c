/*
 * rp_l2norm.c - L2 normalisation over channels with a learned per-channel scale, in integers.
 *
 * For a pixel with centred values v_c = q_c - zp: S = sum v_c^2 (uint32),
 * root = floor(sqrt(S * 2^32)) (= sqrt(S) in Q16), inv = round(2^38 / root) (= 2^22 / sqrt(S)),
 * out_c = clamp(zp_out + requant(v_c * inv, m_c, r_c)) with m_c / 2^r_c = weight_c / (s_out 2^22).
 * The input scale cancels. A pixel with S = 0 gives zp_out (the float eps makes it 0 there too).
 */
#include "rp_internal.h"
#include "rp_nn.h"

static uint32_t isqrt64(uint64_t x)
{
    uint64_t res = 0;
    uint64_t bit = (uint64_t)1 << 62;
    while (bit > x) {
        bit >>= 2;
    }
    while (bit != 0) {
        if (x >= res + bit) {
            x -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)res;
}

rp_status rp_l2norm_s8(const rp_l2norm_layer *l, const int8_t *in, int8_t *out)
{
    if (l == NULL || in == NULL || out == NULL || l->dims.c <= 0 || l->dims.c > 65535 ||
        l->quant.multiplier == NULL || l->quant.rshift == NULL) {
        return RP_ARG_ERROR;
    }
    const int32_t c = l->dims.c;
    const int32_t n = l->dims.h * l->dims.w;
    for (int32_t p = 0; p < n; p++) {
        const int8_t *x = in + (size_t)p * c;
        int8_t *y = out + (size_t)p * c;
        uint32_t sum = 0;
        for (int32_t ch = 0; ch < c; ch++) {
            const int32_t v = (int32_t)x[ch] + l->input_offset;
            sum += (uint32_t)(v * v);
        }
        if (sum == 0) {
            for (int32_t ch = 0; ch < c; ch++) {
                y[ch] = (int8_t)rp_clamp(l->output_offset, -128, 127);
            }
            continue;
        }
        const uint32_t root = isqrt64((uint64_t)sum << 32);
        const int32_t inv = (int32_t)((((uint64_t)1 << 38) + (root >> 1)) / root);
        for (int32_t ch = 0; ch < c; ch++) {
            const int32_t v = (int32_t)x[ch] + l->input_offset;
            int32_t r = rp_requantize(v * inv, l->quant.multiplier[ch], l->quant.rshift[ch]);
            r = rp_clamp(r, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
            y[ch] = (int8_t)rp_clamp(r, -128, 127);
        }
    }
    return RP_OK;
}
