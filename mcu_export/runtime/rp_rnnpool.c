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
 * runs forwards and backwards over the row summaries and over the column summaries. On the DSP
 * path every int16 vector (inputs, states, summaries) is kept in pair layout (rp_simd.h), so the
 * matrix-vector products are SMLADs with no shuffling; RNN1's final states are RNN2's inputs.
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

/* out[r] = w_r . v for `rows` int8 weight rows of length n and an int16 vector v in pair layout
 * (rp_pair_index). On the DSP four rows share each pair of vector words: a weight word unpacks
 * (SXTB16, even and odd bytes) into the pairs that line up with them, each pair one SMLAD. */
static inline __attribute__((always_inline)) void matvec_s8_s16(const int8_t *w,
                                                                const int16_t *v, int32_t rows,
                                                                int32_t n, int32_t *out)
{
    int32_t r = 0;
#if RP_USE_DSP
    const int32_t n4 = n & ~3;
    for (; r + 4 <= rows; r += 4) {
        const int8_t *w0 = w + (size_t)r * n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int32_t j = 0; j < n4; j += 4) {
            const int32_t v02 = (int32_t)rp_load_u32(v + j), v13 = (int32_t)rp_load_u32(v + j + 2);
            uint32_t wv = rp_load_u32(w0 + j);
            a0 = __smlad(__sxtb16(wv), v02, a0);
            a0 = __smlad(rp_sxtb16_odd(wv), v13, a0);
            wv = rp_load_u32(w1 + j);
            a1 = __smlad(__sxtb16(wv), v02, a1);
            a1 = __smlad(rp_sxtb16_odd(wv), v13, a1);
            wv = rp_load_u32(w2 + j);
            a2 = __smlad(__sxtb16(wv), v02, a2);
            a2 = __smlad(rp_sxtb16_odd(wv), v13, a2);
            wv = rp_load_u32(w3 + j);
            a3 = __smlad(__sxtb16(wv), v02, a3);
            a3 = __smlad(rp_sxtb16_odd(wv), v13, a3);
        }
        for (int32_t j = n4; j < n; j++) {
            a0 += (int32_t)w0[j] * v[j];
            a1 += (int32_t)w1[j] * v[j];
            a2 += (int32_t)w2[j] * v[j];
            a3 += (int32_t)w3[j] * v[j];
        }
        out[r] = a0;
        out[r + 1] = a1;
        out[r + 2] = a2;
        out[r + 3] = a3;
    }
#endif
    for (; r < rows; r++) {
        const int8_t *wr = w + (size_t)r * n;
        int32_t a = 0, j = 0;
#if RP_USE_DSP
        for (; j < n4; j += 4) {
            const uint32_t wv = rp_load_u32(wr + j);
            a = __smlad(__sxtb16(wv), (int32_t)rp_load_u32(v + j), a);
            a = __smlad(rp_sxtb16_odd(wv), (int32_t)rp_load_u32(v + j + 2), a);
        }
#endif
        for (; j < n; j++) {
            a += (int32_t)wr[j] * v[j];
        }
        out[r] = a;
    }
}

/* requant_limited(acc, mult, rshift, RP_PRE_LIMIT) for rshift >= 33: rp_requantize's 32-bit
 * path without its branch (the high word of the product, two shifts). */
static inline int32_t requant_high_limited(int32_t acc, int32_t mult, int32_t rshift)
{
    const int32_t hi = (int32_t)(((int64_t)acc * mult) >> 32);
    return rp_clamp(((hi >> (rshift - 33)) + 1) >> 1, -RP_PRE_LIMIT, RP_PRE_LIMIT);
}

/* quantSigmoid / quantTanh update of unit i (stored at position p of h / h_new), every rshift
 * of the cell >= 33. */
static inline __attribute__((always_inline)) void quant_gate_high(
    const rp_fastgrnn_cell *cell, const int32_t *acc_w, const int32_t *acc_u, const int16_t *h,
    int16_t *h_new, int32_t i, int32_t p)
{
    const int32_t pre =
        requant_high_limited(acc_w[i], cell->w_quant.multiplier[i], cell->w_quant.rshift[i]) +
        requant_high_limited(acc_u[i], cell->u_quant.multiplier[i], cell->u_quant.rshift[i]);
    const int32_t z = rp_clamp((pre + cell->bias_gate[i] + RP_Q14) >> 1, 0, RP_Q14);
    const int32_t ht = rp_clamp(pre + cell->bias_update[i], -RP_Q14, RP_Q14);
    const int32_t coef = ((cell->zeta_q14 * (RP_Q14 - z)) >> 14) + cell->nu_q14;
    h_new[p] = (int16_t)rp_sat16((z * h[p] + coef * ht + (1 << 13)) >> 14);
}

/* The same with sigmoid / tanh tables. */
static inline __attribute__((always_inline)) void table_gate_high(
    const rp_fastgrnn_cell *cell, const int32_t *acc_w, const int32_t *acc_u, const int16_t *h,
    int16_t *h_new, int32_t i, int32_t p)
{
    const int32_t pre =
        requant_high_limited(acc_w[i], cell->w_quant.multiplier[i], cell->w_quant.rshift[i]) +
        requant_high_limited(acc_u[i], cell->u_quant.multiplier[i], cell->u_quant.rshift[i]);
    const int32_t z = act_table(cell->sigmoid_table, pre + cell->bias_gate[i]);
    const int32_t ht = act_table(cell->tanh_table, pre + cell->bias_update[i]);
    const int32_t coef = ((cell->zeta_q14 * (RP_Q14 - z)) >> 14) + cell->nu_q14;
    h_new[p] = (int16_t)rp_sat16((z * h[p] + coef * ht + (1 << 13)) >> 14);
}

/* One step; x, h and h_new are in pair layout (rp_pair_index), so unit i lives at
 * rp_pair_index(i, hidden_size) of h and h_new. The matrix-vector products run first (all
 * units), then the per-unit gates, each loop tight. high_shifts: every W / U rshift is >= 33
 * (see cell_high_shifts()). */
static void fastgrnn_step(const rp_fastgrnn_cell *cell, const int16_t *x, const int16_t *h,
                          int16_t *h_new, int high_shifts)
{
    int32_t acc_w[RP_MAX_HIDDEN], acc_u[RP_MAX_HIDDEN];
    const int32_t hid = cell->hidden_size;
    matvec_s8_s16(cell->w, x, hid, cell->input_size, acc_w);
    matvec_s8_s16(cell->u, h, hid, hid, acc_u);
    const int32_t *wm = cell->w_quant.multiplier, *um = cell->u_quant.multiplier;
    const int8_t *ws = cell->w_quant.rshift, *us = cell->u_quant.rshift;
    const int32_t *bg = cell->bias_gate, *bu = cell->bias_update;
    const int32_t zeta = cell->zeta_q14, nu = cell->nu_q14;
    if (cell->sigmoid_table != NULL && cell->tanh_table != NULL && high_shifts) {
        int32_t i = 0;
#if RP_USE_DSP
        for (; i + 4 <= hid; i += 4) { /* pair layout, as below */
            table_gate_high(cell, acc_w, acc_u, h, h_new, i, i);
            table_gate_high(cell, acc_w, acc_u, h, h_new, i + 1, i + 2);
            table_gate_high(cell, acc_w, acc_u, h, h_new, i + 2, i + 1);
            table_gate_high(cell, acc_w, acc_u, h, h_new, i + 3, i + 3);
        }
#endif
        for (; i < hid; i++) {
            table_gate_high(cell, acc_w, acc_u, h, h_new, i, i);
        }
        return;
    }
    if (cell->sigmoid_table != NULL && cell->tanh_table != NULL) {
        for (int32_t i = 0; i < hid; i++) {
            const int32_t pre = requant_limited(acc_w[i], wm[i], ws[i], RP_PRE_LIMIT) +
                                requant_limited(acc_u[i], um[i], us[i], RP_PRE_LIMIT);
            const int32_t z = act_table(cell->sigmoid_table, pre + bg[i]);
            const int32_t ht = act_table(cell->tanh_table, pre + bu[i]);
            const int32_t coef = ((zeta * (RP_Q14 - z)) >> 14) + nu;
            const int32_t p = rp_pair_index(i, hid);
            const int32_t hn = (z * h[p] + coef * ht + (1 << 13)) >> 14;
            h_new[p] = (int16_t)rp_clamp(hn, INT16_MIN, INT16_MAX);
        }
        return;
    }
    if (high_shifts) { /* every rshift >= 33: rp_requantize's 32-bit path, no branch */
        int32_t i = 0;
#if RP_USE_DSP
        /* pair layout: units g, g + 1, g + 2, g + 3 live at g, g + 2, g + 1, g + 3 */
        for (; i + 4 <= hid; i += 4) {
            quant_gate_high(cell, acc_w, acc_u, h, h_new, i, i);
            quant_gate_high(cell, acc_w, acc_u, h, h_new, i + 1, i + 2);
            quant_gate_high(cell, acc_w, acc_u, h, h_new, i + 2, i + 1);
            quant_gate_high(cell, acc_w, acc_u, h, h_new, i + 3, i + 3);
        }
#endif
        for (; i < hid; i++) {
            quant_gate_high(cell, acc_w, acc_u, h, h_new, i, i);
        }
        return;
    }
    for (int32_t i = 0; i < hid; i++) { /* quantSigmoid / quantTanh */
        const int32_t pre = requant_limited(acc_w[i], wm[i], ws[i], RP_PRE_LIMIT) +
                            requant_limited(acc_u[i], um[i], us[i], RP_PRE_LIMIT);
        const int32_t z = rp_clamp((pre + bg[i] + RP_Q14) >> 1, 0, RP_Q14);
        const int32_t ht = rp_clamp(pre + bu[i], -RP_Q14, RP_Q14);
        const int32_t coef = ((zeta * (RP_Q14 - z)) >> 14) + nu;
        const int32_t p = rp_pair_index(i, hid);
        const int32_t hn = (z * h[p] + coef * ht + (1 << 13)) >> 14;
        h_new[p] = (int16_t)rp_clamp(hn, INT16_MIN, INT16_MAX);
    }
}

/* Whether every requantisation of the cell takes rp_requantize's 32-bit path (rshift >= 33),
 * which the exporter arranges (RNN1's inputs are scaled by 64 for it). */
static int cell_high_shifts(const rp_fastgrnn_cell *cell)
{
    for (int32_t i = 0; i < cell->hidden_size; i++) {
        if (cell->w_quant.rshift[i] < 33 || cell->u_quant.rshift[i] < 33) {
            return 0;
        }
    }
    return 1;
}

/* Runs a cell over len inputs (x16 vectors spaced by stride elements), from a zero state;
 * the last state ends in h. tmp holds hidden_size values. The two buffers swap roles every
 * step; an odd number of steps ends with one copy. */
static void fastgrnn_sequence(const rp_fastgrnn_cell *cell, const int16_t *xs, int32_t stride,
                              int32_t len, int reverse, int16_t *h, int16_t *tmp)
{
    int16_t *cur = h, *next = tmp;
    const int high_shifts = cell_high_shifts(cell);
    for (int32_t i = 0; i < cell->hidden_size; i++) {
        h[i] = 0;
    }
    for (int32_t t = 0; t < len; t++) {
        const int32_t idx = reverse ? len - 1 - t : t;
        fastgrnn_step(cell, xs + (size_t)idx * stride, cur, next, high_shifts);
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

/* One patch; the column summaries of its first `reuse_cols` columns are already in the
 * buffer (the previous patch of the same patch row computed them: same rows, same columns). */
static rp_status rnnpool_patch(const rp_rnnpool_layer *l, void *buf, const int8_t *const *rows,
                               int32_t col0, int32_t reuse_cols, int8_t *out)
{
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
                xs[(size_t)t * c + rp_pair_index(k, c)] =
                    (int16_t)((rows[r][(size_t)(col0 + t) * c + k] + l->input_offset) * RP_RNN_IN_SCALE);
            }
        }
        fastgrnn_sequence(&l->rnn1, xs, c, pw, 0, row_sum + (size_t)r * h1, tmp);
    }
    for (int32_t q = reuse_cols; q < pw; q++) { /* RNN1 along each column */
        for (int32_t t = 0; t < ph; t++) {
            for (int32_t k = 0; k < c; k++) {
                xs[(size_t)t * c + rp_pair_index(k, c)] =
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
            int32_t v = rp_requantize(h[rp_pair_index(i, h2)], l->output_multiplier,
                                      l->output_rshift);
            v = rp_clamp(v, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
            out[s * h2 + i] = (int8_t)rp_clamp(v, l->act_min, l->act_max);
        }
    }
    return RP_OK;
}

rp_status rp_rnnpool_s8_patch(const rp_rnnpool_layer *l, void *buf, size_t size,
                              const int8_t *const *rows, int32_t col0, int8_t *out)
{
    if (l == NULL || buf == NULL || rows == NULL || out == NULL || !rnnpool_valid(l) ||
        size < rp_rnnpool_get_buffer_size(l) || col0 < 0 || col0 + l->patch_w > l->in.w) {
        return RP_ARG_ERROR;
    }
    return rnnpool_patch(l, buf, rows, col0, 0, out);
}

rp_status rp_rnnpool_s8_row(const rp_rnnpool_layer *l, void *buf, size_t size,
                            const int8_t *const *rows, int8_t *out_row)
{
    if (l == NULL || buf == NULL || rows == NULL || out_row == NULL || !rnnpool_valid(l) ||
        size < rp_rnnpool_get_buffer_size(l) ||
        (int32_t)(l->out.w - 1) * l->stride_w + l->patch_w > l->in.w) {
        return RP_ARG_ERROR;
    }
    /* Horizontally overlapping patches share columns: column q + stride of one patch is column
     * q of the next, over the same rows, so its RNN1 summary is moved instead of recomputed
     * (bit-identical; saves half the column pass at the usual stride = patch / 2). */
    const int32_t pw = l->patch_w, sw = l->stride_w, h1 = l->rnn1.hidden_size;
    const int32_t overlap = sw < pw ? pw - sw : 0;
    int16_t *col_sum = (int16_t *)buf + (size_t)l->patch_h * h1;
    for (int32_t px = 0; px < l->out.w; px++) {
        if (px > 0 && overlap > 0) {
            memmove(col_sum, col_sum + (size_t)sw * h1, sizeof(int16_t) * (size_t)overlap * h1);
        }
        rp_status st = rnnpool_patch(l, buf, rows, px * sw, px > 0 ? overlap : 0,
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
