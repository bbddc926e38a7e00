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

/* floor(sqrt(s * 2^32)) for s > 0. With a single-precision FPU (the M4F) a VSQRT estimate lands
 * within a few units (s < 2^24: |error| <= 17) and integer steps with 64-bit products make it
 * exact, so the result never depends on the float rounding (the bit-by-bit 64-bit root, the
 * path elsewhere, takes ~500 instructions a pixel). No libm: the instruction is inline. */
static uint32_t sqrt_q16(uint32_t s)
{
    const uint64_t x = (uint64_t)s << 32;
#if defined(__ARM_FP) && (__ARM_FP & 4)
    float root_s;
    __asm__("vsqrt.f32 %0, %1" : "=t"(root_s) : "t"((float)s));
    const float est = root_s * 65536.0f;
    uint32_t r = est >= 4294967040.0f ? 0xFFFFFFFFu : (uint32_t)est;
    while ((uint64_t)r * r > x) {
        r--;
    }
    while (r < 0xFFFFFFFFu && ((uint64_t)r + 1) * ((uint64_t)r + 1) <= x) {
        r++;
    }
    return r;
#else
    uint64_t rem = x, res = 0, bit = (uint64_t)1 << 62;
    while (bit > rem) {
        bit >>= 2;
    }
    while (bit != 0) {
        if (rem >= res + bit) {
            rem -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)res;
#endif
}

/* round(2^38 / root) = floor((2^38 + root / 2) / root) for root >= 2^16 (a quotient < 2^23): a
 * float estimate within one unit, made exact with 64-bit products (no 64-bit division). */
static int32_t inv_q22(uint32_t root)
{
    const uint64_t num = ((uint64_t)1 << 38) + (root >> 1);
    uint32_t q = (uint32_t)(274877906944.0f / (float)root);
    while ((uint64_t)q * root > num) {
        q--;
    }
    while (((uint64_t)q + 1) * root <= num) {
        q++;
    }
    return (int32_t)q;
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
        const int32_t inv = inv_q22(sqrt_q16(sum));
        for (int32_t ch = 0; ch < c; ch++) {
            const int32_t v = (int32_t)x[ch] + l->input_offset;
            int32_t r = rp_requantize(v * inv, l->quant.multiplier[ch], l->quant.rshift[ch]);
            r = rp_clamp(r, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
            y[ch] = (int8_t)rp_clamp(r, -128, 127);
        }
    }
    return RP_OK;
}
