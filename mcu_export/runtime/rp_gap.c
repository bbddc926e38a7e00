/*
 * rp_gap.c - int8 global average pooling, whole map or accumulated row by row.
 *
 * The sums are of the raw codes q; the input offset enters once per channel at the end
 * (sum (q - zp) = sum q + h w input_offset), which is the same integer.
 */
#include "rp_internal.h"
#include "rp_nn.h"

static int gap_valid(const rp_gap_layer *l)
{
    return l != NULL && l->in.h > 0 && l->in.w > 0 && l->in.c > 0 &&
           (int64_t)l->in.h * l->in.w <= RP_GAP_MAX_PIXELS && l->output_rshift >= 1 &&
           l->output_rshift <= 62 && l->act_min <= l->act_max &&
           l->input_offset >= -127 && l->input_offset <= 128;
}

/* Adds channels [0, 4) of n pixels, `stride` bytes apart, to acc[0..3]. */
static void gap_sum4(const int8_t *p, int32_t n, int32_t stride, int32_t acc[4])
{
#if RP_USE_DSP
    /* SXTAB16 adds the even / odd bytes of a word to two halfword sums: one load and two
     * instructions per pixel and four channels; <= 256 int8 values per halfword stay exact. */
    while (n > 0) {
        const int32_t chunk = n < 256 ? n : 256;
        int32_t a02 = 0, a13 = 0;
        for (int32_t i = 0; i < chunk; i++) {
            const uint32_t v = rp_load_u32(p);
            a02 = (int32_t)__sxtab16((uint32_t)a02, v);
            a13 = rp_sxtab16_odd((uint32_t)a13, v);
            p += stride;
        }
        acc[0] += (int16_t)(a02 & 0xFFFF);
        acc[1] += (int16_t)(a13 & 0xFFFF);
        acc[2] += a02 >> 16;
        acc[3] += a13 >> 16;
        n -= chunk;
    }
#else
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t i = 0; i < n; i++, p += stride) {
        a0 += p[0];
        a1 += p[1];
        a2 += p[2];
        a3 += p[3];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
#endif
}

/* Adds channel 0 of n pixels, `stride` bytes apart, to *acc. */
static void gap_sum1(const int8_t *p, int32_t n, int32_t stride, int32_t *acc)
{
    int32_t a = *acc;
    for (int32_t i = 0; i < n; i++, p += stride) {
        a += *p;
    }
    *acc = a;
}

static int8_t gap_output(const rp_gap_layer *l, int32_t sum)
{
    const int32_t centred = sum + l->input_offset * (l->in.h * l->in.w);
    int32_t v = rp_requantize(centred, l->output_multiplier, l->output_rshift);
    v = rp_clamp(v, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
    return (int8_t)rp_clamp(v, l->act_min, l->act_max);
}

size_t rp_gap_get_sums_size(const rp_gap_layer *layer)
{
    return gap_valid(layer) ? (size_t)layer->in.c * sizeof(int32_t) : 0;
}

rp_status rp_gap_s8_begin(const rp_gap_layer *layer, int32_t *sums)
{
    if (!gap_valid(layer) || sums == NULL) {
        return RP_ARG_ERROR;
    }
    memset(sums, 0, (size_t)layer->in.c * sizeof(int32_t));
    return RP_OK;
}

rp_status rp_gap_s8_add_rows(const rp_gap_layer *layer, int32_t *sums, const int8_t *rows,
                             int32_t nrows)
{
    if (!gap_valid(layer) || sums == NULL || rows == NULL || nrows < 0 || nrows > layer->in.h) {
        return RP_ARG_ERROR;
    }
    const int32_t c = layer->in.c, n = nrows * layer->in.w;
    int32_t ch = 0;
    for (; ch + 4 <= c; ch += 4) {
        gap_sum4(rows + ch, n, c, sums + ch);
    }
    for (; ch < c; ch++) {
        gap_sum1(rows + ch, n, c, sums + ch);
    }
    return RP_OK;
}

rp_status rp_gap_s8_add_row(const rp_gap_layer *layer, int32_t *sums, const int8_t *row)
{
    return rp_gap_s8_add_rows(layer, sums, row, 1);
}

rp_status rp_gap_s8_finish(const rp_gap_layer *layer, const int32_t *sums, int8_t *out)
{
    if (!gap_valid(layer) || sums == NULL || out == NULL) {
        return RP_ARG_ERROR;
    }
    for (int32_t ch = 0; ch < layer->in.c; ch++) {
        out[ch] = gap_output(layer, sums[ch]);
    }
    return RP_OK;
}

rp_status rp_gap_s8(const rp_gap_layer *layer, const int8_t *in, int8_t *out)
{
    if (!gap_valid(layer) || in == NULL || out == NULL) {
        return RP_ARG_ERROR;
    }
    const int32_t c = layer->in.c, n = layer->in.h * layer->in.w;
    int32_t ch = 0;
    for (; ch + 4 <= c; ch += 4) {
        int32_t acc[4] = {0, 0, 0, 0};
        gap_sum4(in + ch, n, c, acc);
        for (int32_t k = 0; k < 4; k++) {
            out[ch + k] = gap_output(layer, acc[k]);
        }
    }
    for (; ch < c; ch++) {
        int32_t acc = 0;
        gap_sum1(in + ch, n, c, &acc);
        out[ch] = gap_output(layer, acc);
    }
    return RP_OK;
}
