/*
 * rp_rnnpool.c - RNNPool with FastGRNN cells in fixed point (int16 Q14 state).
 *
 * One step of a cell, for every hidden unit i (Q = 2^14 = 1.0):
 *   pre  = sat(requant(W_i . x, w_quant_i)) + sat(requant(U_i . h, u_quant_i))   (Q14)
 *   z    = clamp((pre + bias_gate_i + Q) >> 1, 0, Q)          quantSigmoid
 *   ht   = clamp(pre + bias_update_i, -Q, Q)                   quantTanh
 *   (or, with tables, z = table(sigmoid_table, pre + bias_gate_i) and
 *    ht = table(tanh_table, pre + bias_update_i), see act_table())
 *   coef = ((zeta * (Q - z)) >> 14) + nu
 *   h'_i = clamp((z * h_i + coef * ht + 2^13) >> 14, INT16)
 * RNN1 runs over every row and every column of the patch (input x = (q - zp) * 64, int16: the
 * factor keeps the W requantisation scale below 1/4, on rp_requantize's 32-bit path), RNN2
 * runs forwards and backwards over the row summaries and over the column summaries.
 */
#include "rp_internal.h"
#include "rp_nn.h"

#define RP_Q14 16384
#define RP_PRE_LIMIT (1 << 28)
#define RP_RNN_IN_SCALE 64

/* Linear interpolation in a table sampled every 2^9 (1/32 in Q14) on [-8, 8). */
static int32_t act_table(const int16_t *tab, int32_t x)
{
    const int32_t u = rp_clamp(x, -8 * RP_Q14, 8 * RP_Q14 - 1) + 8 * RP_Q14;
    const int32_t i = u >> 9;
    const int32_t f = u & 511;
    return tab[i] + ((((int32_t)tab[i + 1] - tab[i]) * f + 256) >> 9);
}

/* rp_requantize() followed by a clamp to [-lim, lim]. */
static inline int32_t requant_limited(int32_t acc, int32_t mult, int32_t rshift, int32_t lim)
{
    return rp_clamp(rp_requantize(acc, mult, rshift), -lim, lim);
}

static void fastgrnn_step(const rp_fastgrnn_cell *cell, const int16_t *x, const int16_t *h,
                          int16_t *h_new)
{
    const int32_t in = cell->input_size, hid = cell->hidden_size;
    const int32_t *wm = cell->w_quant.multiplier, *um = cell->u_quant.multiplier;
    const int8_t *ws = cell->w_quant.rshift, *us = cell->u_quant.rshift;
    for (int32_t i = 0; i < hid; i++) {
        const int8_t *w = cell->w + (size_t)i * in;
        const int8_t *u = cell->u + (size_t)i * hid;
        int32_t acc_w = 0, acc_u = 0;
        for (int32_t j = 0; j < in; j++) {
            acc_w += (int32_t)w[j] * x[j];
        }
        for (int32_t j = 0; j < hid; j++) {
            acc_u += (int32_t)u[j] * h[j];
        }
        const int32_t pre = requant_limited(acc_w, wm[i], ws[i], RP_PRE_LIMIT) +
                            requant_limited(acc_u, um[i], us[i], RP_PRE_LIMIT);
        int32_t z, ht;
        if (cell->sigmoid_table != NULL && cell->tanh_table != NULL) {
            z = act_table(cell->sigmoid_table, pre + cell->bias_gate[i]);
            ht = act_table(cell->tanh_table, pre + cell->bias_update[i]);
        } else {
            z = rp_clamp((pre + cell->bias_gate[i] + RP_Q14) >> 1, 0, RP_Q14);
            ht = rp_clamp(pre + cell->bias_update[i], -RP_Q14, RP_Q14);
        }
        const int32_t coef = ((cell->zeta_q14 * (RP_Q14 - z)) >> 14) + cell->nu_q14;
        const int32_t hn = (z * h[i] + coef * ht + (1 << 13)) >> 14;
        h_new[i] = (int16_t)rp_clamp(hn, INT16_MIN, INT16_MAX);
    }
}

/* Runs a cell over len inputs (x16 vectors spaced by stride elements), from a zero state;
 * the last state ends in h. tmp holds hidden_size values. The two buffers swap roles every
 * step; an odd number of steps ends with one copy. */
static void fastgrnn_sequence(const rp_fastgrnn_cell *cell, const int16_t *xs, int32_t stride,
                              int32_t len, int reverse, int16_t *h, int16_t *tmp)
{
    int16_t *cur = h, *next = tmp;
    for (int32_t i = 0; i < cell->hidden_size; i++) {
        h[i] = 0;
    }
    for (int32_t t = 0; t < len; t++) {
        const int32_t idx = reverse ? len - 1 - t : t;
        fastgrnn_step(cell, xs + (size_t)idx * stride, cur, next);
        int16_t *swap = cur;
        cur = next;
        next = swap;
    }
    if (cur != h) {
        for (int32_t i = 0; i < cell->hidden_size; i++) {
            h[i] = cur[i];
        }
    }
}

static int rnnpool_valid(const rp_rnnpool_layer *l)
{
    return l->patch_h > 0 && l->patch_w > 0 && l->patch_h <= RP_MAX_KERNEL &&
           l->stride_h > 0 && l->stride_w > 0 && l->rnn1.input_size == l->in.c &&
           l->rnn2.input_size == l->rnn1.hidden_size && l->rnn1.hidden_size > 0 &&
           l->rnn1.hidden_size <= RP_MAX_HIDDEN && l->rnn2.hidden_size > 0 &&
           l->rnn2.hidden_size <= RP_MAX_HIDDEN && l->out.c == 4 * l->rnn2.hidden_size &&
           l->rnn1.w != NULL && l->rnn1.u != NULL && l->rnn2.w != NULL && l->rnn2.u != NULL;
}

size_t rp_rnnpool_get_buffer_size(const rp_rnnpool_layer *l)
{
    if (l == NULL) {
        return 0;
    }
    const size_t h1 = (size_t)l->rnn1.hidden_size;
    const size_t len = (size_t)(l->patch_w > l->patch_h ? l->patch_w : l->patch_h);
    /* row + column summaries, RNN1 inputs of one sequence, state and step output */
    return sizeof(int16_t) * ((size_t)(l->patch_h + l->patch_w) * h1 + len * (size_t)l->in.c +
                              2 * RP_MAX_HIDDEN);
}

rp_status rp_rnnpool_s8_patch(const rp_rnnpool_layer *l, void *buf, size_t size,
                              const int8_t *const *rows, int32_t col0, int8_t *out)
{
    if (l == NULL || buf == NULL || rows == NULL || out == NULL || !rnnpool_valid(l) ||
        size < rp_rnnpool_get_buffer_size(l) || col0 < 0 || col0 + l->patch_w > l->in.w) {
        return RP_ARG_ERROR;
    }
    const int32_t ph = l->patch_h, pw = l->patch_w, c = l->in.c;
    const int32_t h1 = l->rnn1.hidden_size, h2 = l->rnn2.hidden_size;
    const int32_t len = pw > ph ? pw : ph;
    int16_t *row_sum = (int16_t *)buf;
    int16_t *col_sum = row_sum + (size_t)ph * h1;
    int16_t *xs = col_sum + (size_t)pw * h1;
    int16_t *h = xs + (size_t)len * c;
    int16_t *tmp = h + RP_MAX_HIDDEN;
    for (int32_t r = 0; r < ph; r++) {
        if (rows[r] == NULL) {
            return RP_ARG_ERROR;
        }
    }
    for (int32_t r = 0; r < ph; r++) { /* RNN1 along each row */
        for (int32_t t = 0; t < pw; t++) {
            for (int32_t k = 0; k < c; k++) {
                xs[(size_t)t * c + k] =
                    (int16_t)((rows[r][(size_t)(col0 + t) * c + k] + l->input_offset) * RP_RNN_IN_SCALE);
            }
        }
        fastgrnn_sequence(&l->rnn1, xs, c, pw, 0, row_sum + (size_t)r * h1, tmp);
    }
    for (int32_t q = 0; q < pw; q++) { /* RNN1 along each column */
        for (int32_t t = 0; t < ph; t++) {
            for (int32_t k = 0; k < c; k++) {
                xs[(size_t)t * c + k] =
                    (int16_t)((rows[t][(size_t)(col0 + q) * c + k] + l->input_offset) * RP_RNN_IN_SCALE);
            }
        }
        fastgrnn_sequence(&l->rnn1, xs, c, ph, 0, col_sum + (size_t)q * h1, tmp);
    }
    const int16_t *seqs[2] = {row_sum, col_sum};
    const int32_t lens[2] = {ph, pw};
    for (int32_t s = 0; s < 4; s++) { /* RNN2: rows fwd, rows bwd, cols fwd, cols bwd */
        fastgrnn_sequence(&l->rnn2, seqs[s / 2], h1, lens[s / 2], s & 1, h, tmp);
        for (int32_t i = 0; i < h2; i++) {
            int32_t v = rp_requantize(h[i], l->output_multiplier, l->output_rshift);
            v = rp_clamp(v, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
            out[s * h2 + i] = (int8_t)rp_clamp(v, l->act_min, l->act_max);
        }
    }
    return RP_OK;
}

rp_status rp_rnnpool_s8_row(const rp_rnnpool_layer *l, void *buf, size_t size,
                            const int8_t *const *rows, int8_t *out_row)
{
    if (l == NULL || out_row == NULL) {
        return RP_ARG_ERROR;
    }
    for (int32_t px = 0; px < l->out.w; px++) {
        rp_status st = rp_rnnpool_s8_patch(l, buf, size, rows, px * l->stride_w,
                                           out_row + (size_t)px * l->out.c);
        if (st != RP_OK) {
            return st;
        }
    }
    return RP_OK;
}

rp_status rp_rnnpool_s8(const rp_rnnpool_layer *l, void *buf, size_t size, const int8_t *in,
                        int8_t *out)
{
    const int8_t *rows[RP_MAX_KERNEL];
    if (l == NULL || in == NULL || out == NULL || !rnnpool_valid(l)) {
        return RP_ARG_ERROR;
    }
    const size_t in_row = (size_t)l->in.w * l->in.c;
    for (int32_t py = 0; py < l->out.h; py++) {
        for (int32_t r = 0; r < l->patch_h; r++) {
            const int32_t iy = py * l->stride_h + r;
            if (iy >= l->in.h) {
                return RP_ARG_ERROR;
            }
            rows[r] = in + (size_t)iy * in_row;
        }
        rp_status st = rp_rnnpool_s8_row(l, buf, size, rows, out + (size_t)py * l->out.w * l->out.c);
        if (st != RP_OK) {
            return st;
        }
    }
    return RP_OK;
}
