/*
 * rp_add.c - element-wise int8 add with requantisation (residual connections).
 *
 * Each input is offset, shifted left by left_shift for headroom, scaled to a common scale by its
 * own multiplier, the sum is scaled to the output: exact integer arithmetic throughout.
 */
#include "rp_internal.h"
#include "rp_nn.h"

rp_status rp_add_s8(const rp_add_layer *l, const int8_t *a, const int8_t *b, int32_t n, int8_t *out)
{
    if (l == NULL || a == NULL || b == NULL || out == NULL || n < 0 || l->left_shift < 0 ||
        l->left_shift > 22) {
        return RP_ARG_ERROR;
    }
    for (int32_t i = 0; i < n; i++) {
        const int32_t xa = ((int32_t)a[i] + l->input1_offset) * (1 << l->left_shift);
        const int32_t xb = ((int32_t)b[i] + l->input2_offset) * (1 << l->left_shift);
        const int32_t sa = rp_requantize(xa, l->input1_multiplier, l->input1_rshift);
        const int32_t sb = rp_requantize(xb, l->input2_multiplier, l->input2_rshift);
        int32_t v = rp_requantize(sa + sb, l->output_multiplier, l->output_rshift);
        v = rp_clamp(v, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
        out[i] = (int8_t)rp_clamp(v, l->act_min, l->act_max);
    }
    return RP_OK;
}
