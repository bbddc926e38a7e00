/*
 * rp_rnnpool.c - RNNPool with FastGRNN cells in fixed point (int16 Q14 state).
 *
 * One step of a cell, for every hidden unit i (Q = 2^14 = 1.0):
 *   pre  = sat(requant(W_i . x, w_quant_i)) + sat(requant(U_i . h, u_quant_i))   (Q14)
 *   z    = clamp((pre + bias_gate_i + Q) >> 1, 0, Q)          quantSigmoid
 *   ht   = clamp(pre + bias_update_i, -Q, Q)                   quantTanh
 *   (or, with tables, z = table(sigmoid_table, pre + bias_gate_i) and
 *    ht = table(tanh_table, pre + bias_update_i), see table_at())
 *   coef = ((zeta * (Q - z)) >> 14) + nu
 *   h'_i = clamp((z * h_i + coef * ht + 2^13) >> 14, INT16)
 * RNN1 runs over every row and every column of the patch (input x = (q - zp) * 64, int16: the
 * factor keeps the W requantisation scale below 1/4), RNN2 runs forwards and backwards over the
 * row summaries and over the column summaries.
 *
 * How the work is cut down, every part bit-identical to the step above:
 * - The input term sat(requant(W_i . x)) does not depend on the state, so it is computed once
 *   per input vector of a pass (RNN1: once per pixel and pass; RNN2: once per summary, shared
 *   by the forward and backward sequences) with the gate bias folded in.
 * - Overlapping patches share sequences: along a patch row, the column summaries of the columns
 *   two neighbours share are moved instead of recomputed (rp_rnnpool_s8_row); from one patch
 *   row to the next, the row summaries of the rows they share are kept in a row cache in the
 *   scratch (rp_rnnpool_s8_row_at, the streamed front-end's entry).
 * - A "cell plan" holds each cell's per-unit constants in the order the DSP path keeps its
 *   vectors (pair layout, rp_simd.h), with the biases folded, and (DSP) W and U unpacked to
 *   int16 pairs, so the gate loop walks plain arrays and updates the state in place. The
 *   exporter computes it (mcu_export/rnnpool_plan.py, the same rules as plan_cell() below) and
 *   emits it as const data (flash), layer->plan; built with -DRP_RNNPOOL_SCRATCH_PLAN the
 *   kernel rebuilds it in the scratch on every call instead (the old way, kept for the
 *   benchmark's before / after and as the C statement of the rules). Where every U shift is
 *   >= 33, the biases are
 *   small and U's row sums bound U . h so that its requantisation cannot reach the +-2^28 clamp
 *   (checked per cell), the gates take a branch-free path (SSAT / USAT, an SMLAD interpolation
 *   of the tables; quantSigmoid / quantTanh two units at a time on the DSP); any other cell
 *   takes the general path. The first step of a sequence starts from h = 0, so it skips U . h
 *   (rp_requantize(0) = 0 for every shift) and z * h.
 */
#include "rp_internal.h"
#include "rp_nn.h"

#define RP_Q14 16384
#define RP_PRE_LIMIT (1 << 28)
#define RP_RNN_IN_LOG2 6 /* RNN1 inputs are (q - zp) * 2^6 */
#define RP_BIAS_LIMIT (1 << 28)
#define RP_HDR_BYTES 16

/* Per-cell constants, position order (unit rp_pair_index(p, hidden) at position p). */
typedef struct {
    const rp_fastgrnn_cell *cell;
    int32_t hid;
    int fast;        /* branch-free gates (see the file comment) */
    int w_fast;      /* every W shift in [33, 62] and W . x provably inside the +-2^28 clamp */
    int tables;      /* sigmoid / tanh tables instead of quantSigmoid / quantTanh */
    int pairs;       /* fast quant gates two units at a time (DSP; see step_quant_pairs) */
    const int32_t *cst;    /* 4 x hid, per position (loaded together): [0] U multiplier, [1] U
                              shift (fast: rshift - 33; general: rshift), [2] dh = (tanh input
                              bias) - bz (fast), [3] bz, folded into the input term (fast quant:
                              bias_gate + Q, fast tables: bias_gate + 8Q, general: 0) */
    const int32_t *w_mult; /* W multiplier */
    const int32_t *w_sh;   /* W rshift (w_fast: rshift - 33) */
    const int32_t *wb;     /* DSP: W unpacked to int16 pairs, blocked (see unpack_block) */
    const int32_t *ub;     /* DSP: U, the same */
} cell_plan;

#if RP_RNNPOOL_PAIR_LAYOUT != RP_USE_DSP
#error "rp_types.h's RP_RNNPOOL_PAIR_LAYOUT must follow rp_simd.h's RP_USE_DSP"
#endif

/* The scratch, carved from the caller's buffer (every part 4-byte aligned). */
typedef struct {
    cell_plan p1, p2;
    int32_t *acc;     /* max(h1, h2) */
    int32_t *pre1;    /* max(ph, pw) x h1: RNN1 input terms of one pass */
    int32_t *pre2;    /* max(ph, pw) x h2: RNN2 input terms of the row or column summaries
                         (the same memory as pre1: RNN2 runs after the patch's RNN1 passes) */
    int16_t *xs;      /* one pixel's channels, pair layout */
    int16_t *row_sum; /* ph x h1 */
    int16_t *col_sum; /* pw x h1 */
    int16_t *h;       /* max(h1, h2) state */
    int16_t *cache;   /* out.w x overlap x h1 row summaries (full buffer only) */
} rnn_work;

static inline int32_t imax(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

static int32_t row_overlap(const rp_rnnpool_layer *l)
{
    return l->stride_h < l->patch_h ? l->patch_h - l->stride_h : 0;
}

/* Bytes of the two cell plans built in the scratch (RP_RNNPOOL_SCRATCH_PLAN only). */
static size_t plan_size(const rp_rnnpool_layer *l)
{
#ifdef RP_RNNPOOL_SCRATCH_PLAN
    const size_t h1 = (size_t)l->rnn1.hidden_size, h2 = (size_t)l->rnn2.hidden_size;
    const size_t c = (size_t)l->in.c;
    return 4 * 6 * (h1 + h2) +
           4 * ((h1 * c + 1) / 2 + (h1 * h1 + 1) / 2 + (h2 * h1 + 1) / 2 + (h2 * h2 + 1) / 2);
#else
    (void)l;
    return 0;
#endif
}

/* Scratch bytes without the row cache, in the order rnn_carve() lays them out. */
static size_t min_size(const rp_rnnpool_layer *l)
{
    const size_t h1 = (size_t)l->rnn1.hidden_size, h2 = (size_t)l->rnn2.hidden_size;
    const size_t len = (size_t)imax(l->patch_h, l->patch_w), hm = h1 > h2 ? h1 : h2;
    return RP_HDR_BYTES + plan_size(l) + 4 * hm + 4 * len * hm +
           2 * (((size_t)l->in.c + 3) & ~(size_t)3) +
           RP_ALIGN4(2 * (size_t)(l->patch_h + l->patch_w) * h1) + RP_ALIGN4(2 * hm);
}

static size_t cache_size(const rp_rnnpool_layer *l)
{
    return 2 * (size_t)l->out.w * (size_t)row_overlap(l) * (size_t)l->rnn1.hidden_size;
}

/* Carves the scratch; with RP_RNNPOOL_SCRATCH_PLAN, the plans' arrays come first (plan_mem:
 * cst, w_mult, w_sh of RNN1 and RNN2, then wb, ub of RNN1 and RNN2). */
static void rnn_carve(const rp_rnnpool_layer *l, void *buf, rnn_work *wk, int32_t **plan_mem)
{
    const int32_t h1 = l->rnn1.hidden_size, h2 = l->rnn2.hidden_size;
    const int32_t len = imax(l->patch_h, l->patch_w), hm = imax(h1, h2);
    int32_t *p32 = (int32_t *)((uint8_t *)buf + RP_HDR_BYTES);
    *plan_mem = p32;
    p32 += plan_size(l) / 4;
    wk->acc = p32;
    p32 += hm;
    wk->pre1 = p32;
    wk->pre2 = p32;
    p32 += len * hm;
    int16_t *p16 = (int16_t *)p32;
    wk->xs = p16;
    p16 += (l->in.c + 3) & ~3;
    wk->row_sum = p16;
    wk->col_sum = p16 + (size_t)l->patch_h * h1;
    p16 = (int16_t *)((uint8_t *)p16 + RP_ALIGN4(2 * (size_t)(l->patch_h + l->patch_w) * h1));
    wk->h = p16;
    wk->cache = (int16_t *)((uint8_t *)p16 + RP_ALIGN4(2 * (size_t)hm));
}

#ifdef RP_DEBUG_PATHS
rp_rnnpool_cell_path rp_rnnpool_last_paths[2];
#endif

#ifdef RP_RNNPOOL_SCRATCH_PLAN
/* The reference's requantisation in 64 bits, without saturation (rows_fit's bounds). */
static int64_t requant64(int64_t acc, int32_t mult, int32_t rshift)
{
    return (acc * mult + ((int64_t)1 << (rshift - 1))) >> rshift;
}

/* DSP: the full 4-row x 4-column blocks of an int8 [rows, n] matrix as int16 pairs, in the
 * order matvec_s8_s16 reads them: per 4 rows and per 4 columns j..j+3, for each of the rows
 * SXTB16's even pair (w_j, w_j+2) then its odd pair (w_j+1, w_j+3), which meet the vector's pair
 * layout words directly (one SMLAD each, no unpacking per step). */
static void unpack_block(const int8_t *w, int32_t rows, int32_t n, int32_t *out)
{
#if RP_USE_DSP
    const int32_t n4 = n & ~3;
    for (int32_t r = 0; r + 4 <= rows; r += 4) {
        for (int32_t j = 0; j < n4; j += 4) {
            for (int32_t k = 0; k < 4; k++) {
                const uint32_t wv = rp_load_u32(w + (size_t)(r + k) * n + j);
                *out++ = (int32_t)__sxtb16(wv);
                *out++ = rp_sxtb16_odd(wv);
            }
        }
    }
#else
    (void)w;
    (void)rows;
    (void)n;
    (void)out;
#endif
}

/* Whether every row of the int8 [rows, n] matrix m, times a vector of entries bounded by
 * x_max, requantises (multipliers mult, shifts sh) on the 32-bit path without reaching the
 * +-2^28 clamp: the requantisation is monotonic, so the row's bound x_max * sum |m_ij| is the
 * worst case (its negative is at most one below the negated positive result). */
static int rows_fit(const int8_t *m, int32_t rows, int32_t n, int64_t x_max,
                    const int32_t *mult, const int8_t *sh)
{
    if (x_max > ((int64_t)1 << 24)) { /* keeps the bound's product inside int64 */
        return 0;
    }
    for (int32_t i = 0; i < rows; i++) {
        if (sh[i] < 33 || sh[i] > 62 || mult[i] < 0) {
            return 0;
        }
        int64_t abs_sum = 0;
        for (int32_t j = 0; j < n; j++) {
            const int32_t v = m[(size_t)i * n + j];
            abs_sum += v < 0 ? -v : v;
        }
        if (requant64(abs_sum * x_max, mult[i], sh[i]) >= RP_PRE_LIMIT - 1) {
            return 0;
        }
    }
    return 1;
}

/* Fills a cell's plan in the scratch (mem: 6 x hid + the unpacked W and U; returns the end)
 * and decides whether it takes the fast gates; x_max bounds |x| of the W . x products (RNN1:
 * its scaled pixels, RNN2: int16 summaries). rnnpool_plan.py's rules are these. */
static int32_t *plan_cell(const rp_fastgrnn_cell *cell, cell_plan *cp, int64_t x_max,
                          int32_t *mem, int32_t *wmem)
{
    const int32_t hid = cell->hidden_size;
    int32_t *cst = mem, *w_mult = mem + 4 * hid, *w_sh = mem + 5 * hid;
    int32_t *wb = wmem;
    const size_t nw = (size_t)hid * cell->input_size;
    int32_t *ub = wb + nw / 2 + (nw & 1);
    int32_t *end = ub + ((size_t)hid * hid) / 2 + (((size_t)hid * hid) & 1);
    cp->cst = cst;
    cp->w_mult = w_mult;
    cp->w_sh = w_sh;
    cp->wb = wb;
    cp->ub = ub;
    cp->cell = cell;
    cp->hid = hid;
    cp->tables = cell->sigmoid_table != NULL && cell->tanh_table != NULL;
    int fast = rows_fit(cell->u, hid, hid, 32768, cell->u_quant.multiplier, cell->u_quant.rshift);
    for (int32_t i = 0; i < hid && fast; i++) {
        const int32_t bg = cell->bias_gate[i], bu = cell->bias_update[i];
        fast = bg >= -RP_BIAS_LIMIT && bg <= RP_BIAS_LIMIT && bu >= -RP_BIAS_LIMIT &&
               bu <= RP_BIAS_LIMIT;
    }
    cp->w_fast = rows_fit(cell->w, hid, cell->input_size, x_max, cell->w_quant.multiplier,
                          cell->w_quant.rshift);
    cp->fast = fast;
    /* halfword products need -zeta and every coef (between nu and zeta + nu) in int16 */
    const int32_t zeta = cell->zeta_q14, nu = cell->nu_q14;
    cp->pairs = RP_USE_DSP && fast && !cp->tables && (hid & 1) == 0 && zeta >= -32767 &&
                zeta <= 32768 && nu >= -32768 && nu <= 32767 && zeta + nu >= -32768 &&
                zeta + nu <= 32767;
    unpack_block(cell->w, hid, cell->input_size, wb);
    unpack_block(cell->u, hid, hid, ub);
    for (int32_t p = 0; p < hid; p++) {
        const int32_t i = rp_pair_index(p, hid);
        const int32_t bg = cell->bias_gate[i], bu = cell->bias_update[i];
        int32_t *c = cst + 4 * p;
        c[0] = cell->u_quant.multiplier[i];
        c[1] = cell->u_quant.rshift[i] - (fast ? 33 : 0);
        w_mult[p] = cell->w_quant.multiplier[i];
        w_sh[p] = cell->w_quant.rshift[i] - (cp->w_fast ? 33 : 0);
        if (!fast) {
            c[3] = 0;
            c[2] = 0;
        } else if (cp->tables) {
            c[3] = bg + 8 * RP_Q14;
            c[2] = bu - bg;
        } else {
            c[3] = bg + RP_Q14;
            c[2] = bu - bg - RP_Q14;
        }
    }
    return end;
}
#else
/* A cell's plan from the exporter's (flash). */
static int use_plan(const rp_fastgrnn_cell *cell, const rp_fastgrnn_plan *fp, cell_plan *cp)
{
    cp->cell = cell;
    cp->hid = cell->hidden_size;
    cp->fast = (fp->flags & RP_CELL_FAST) != 0;
    cp->w_fast = (fp->flags & RP_CELL_W_FAST) != 0;
    cp->tables = (fp->flags & RP_CELL_TABLES) != 0;
    cp->pairs = RP_USE_DSP && (fp->flags & RP_CELL_PAIRS) != 0;
    cp->cst = fp->cst;
    cp->w_mult = fp->w_mult;
    cp->w_sh = fp->w_sh;
    cp->wb = fp->wb;
    cp->ub = fp->ub;
    return fp->cst != NULL && fp->w_mult != NULL && fp->w_sh != NULL &&
           (fp->wb == NULL) == (fp->ub == NULL) && (RP_USE_DSP || fp->wb == NULL) &&
           (!cp->tables || (cell->sigmoid_table != NULL && cell->tanh_table != NULL));
}
#endif

#if RP_USE_DSP
/* matvec_any for a cell whose plan has no unpacked weights (wb NULL: the exporter kept the flash
 * for large cells): four rows at a time, every weight word split by SXTB16 as it is read. */
static __attribute__((noinline)) void matvec_packed(const int8_t *w, const int16_t *v,
                                                    int32_t rows, int32_t n, int32_t *out)
{
    const int32_t n4 = n & ~3, r0 = rows & ~3;
    for (int32_t r = 0; r < r0; r += 4) {
        const int8_t *w0 = w + (size_t)r * n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int32_t j = 0; j < n4; j += 4) {
            const int32_t v02 = (int32_t)rp_load_u32(v + j), v13 = (int32_t)rp_load_u32(v + j + 2);
            const uint32_t x0 = rp_load_u32(w0 + j), x1 = rp_load_u32(w1 + j);
            const uint32_t x2 = rp_load_u32(w2 + j), x3 = rp_load_u32(w3 + j);
            a0 = __smlad(__sxtb16(x0), v02, a0);
            a0 = __smlad(rp_sxtb16_odd(x0), v13, a0);
            a1 = __smlad(__sxtb16(x1), v02, a1);
            a1 = __smlad(rp_sxtb16_odd(x1), v13, a1);
            a2 = __smlad(__sxtb16(x2), v02, a2);
            a2 = __smlad(rp_sxtb16_odd(x2), v13, a2);
            a3 = __smlad(__sxtb16(x3), v02, a3);
            a3 = __smlad(rp_sxtb16_odd(x3), v13, a3);
        }
        for (int32_t j = n4; j < n; j++) {
            a0 += (int32_t)w0[j] * v[j];
            a1 += (int32_t)w1[j] * v[j];
            a2 += (int32_t)w2[j] * v[j];
            a3 += (int32_t)w3[j] * v[j];
        }
        out[r] = a0; /* pair layout, as matvec_any */
        out[r + 2] = a1;
        out[r + 1] = a2;
        out[r + 3] = a3;
    }
    for (int32_t r = r0; r < rows; r++) {
        const int8_t *wr = w + (size_t)r * n;
        int32_t a = 0, j = 0;
        for (; j < n4; j += 4) {
            const uint32_t wv = rp_load_u32(wr + j);
            a = __smlad(__sxtb16(wv), (int32_t)rp_load_u32(v + j), a);
            a = __smlad(rp_sxtb16_odd(wv), (int32_t)rp_load_u32(v + j + 2), a);
        }
        for (; j < n; j++) {
            a += (int32_t)wr[j] * v[j];
        }
        out[r] = a;
    }
}
#endif

/* out[p] = w_r . v for `rows` int8 weight rows of length n and an int16 vector v in pair layout
 * (rp_pair_index); out is in pair layout too (row r at position rp_pair_index(r, rows)). On the
 * DSP the full 4 x 4 blocks come from wb (unpack_block): two vector words and eight weight
 * pairs make 16 MACs in eight SMLADs; column and row tails take the int8 matrix. */
static inline __attribute__((always_inline)) void matvec_any(const int8_t *w,
                                                                const int32_t *wb,
                                                                const int16_t *v, int32_t rows,
                                                                int32_t n, int32_t *out)
{
    int32_t r0 = 0;
#if RP_USE_DSP
    const int32_t n4 = n & ~3;
    r0 = rows & ~3;
    for (int32_t r = 0; r < r0; r += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int32_t j = 0; j < n4; j += 4) {
            const int32_t v02 = (int32_t)rp_load_u32(v + j), v13 = (int32_t)rp_load_u32(v + j + 2);
            a0 = __smlad(wb[0], v02, a0);
            a0 = __smlad(wb[1], v13, a0);
            a1 = __smlad(wb[2], v02, a1);
            a1 = __smlad(wb[3], v13, a1);
            a2 = __smlad(wb[4], v02, a2);
            a2 = __smlad(wb[5], v13, a2);
            a3 = __smlad(wb[6], v02, a3);
            a3 = __smlad(wb[7], v13, a3);
            wb += 8;
        }
        if (n4 < n) {
            const int8_t *w0 = w + (size_t)r * n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
            for (int32_t j = n4; j < n; j++) {
                a0 += (int32_t)w0[j] * v[j];
                a1 += (int32_t)w1[j] * v[j];
                a2 += (int32_t)w2[j] * v[j];
                a3 += (int32_t)w3[j] * v[j];
            }
        }
        out[r] = a0; /* pair layout: rows r, r + 1, r + 2, r + 3 at r, r + 2, r + 1, r + 3 */
        out[r + 2] = a1;
        out[r + 1] = a2;
        out[r + 3] = a3;
    }
#else
    (void)wb;
#endif
    for (int32_t r = r0; r < rows; r++) {
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

/* The product out of line, any size: matvec_packed for a plan without unpacked weights (wb
 * NULL), else matvec_any (its generic instance). Packed plans and the last-layer kernel's single
 * steps use it, so that they add little code. */
static __attribute__((noinline)) void matvec_call(const int8_t *w, const int32_t *wb,
                                                  const int16_t *v, int32_t rows, int32_t n,
                                                  int32_t *out)
{
#if RP_USE_DSP
    if (wb == NULL) {
        matvec_packed(w, v, rows, n, out);
        return;
    }
#endif
    matvec_any(w, wb, v, rows, n, out);
}

/* matvec_any with the common sizes as constants, so that the compiler unrolls their loops;
 * out_of_line (a constant where inlined): matvec_call instead. */
static inline __attribute__((always_inline)) void matvec_s8_s16(const int8_t *w,
                                                                const int32_t *wb,
                                                                const int16_t *v, int32_t rows,
                                                                int32_t n, int32_t *out,
                                                                int out_of_line)
{
    if (out_of_line) {
        matvec_call(w, wb, v, rows, n, out);
        return;
    }
#if RP_USE_DSP
    if (rows == 8 && n == 8) {
        matvec_any(w, wb, v, 8, 8, out);
    } else if (rows == 16 && n == 16) {
        matvec_any(w, wb, v, 16, 16, out);
    } else if (rows == 8 && n == 4) {
        matvec_any(w, wb, v, 8, 4, out);
    } else if (rows == 16 && n == 4) {
        matvec_any(w, wb, v, 16, 4, out);
    } else {
        matvec_any(w, wb, v, rows, n, out);
    }
#else
    matvec_any(w, wb, v, rows, n, out);
#endif
}

/* Input terms of one vector x (int16, pair layout, cp.cell->input_size = n entries): for every
 * position p, sat(requant(acc << in_log2)) + bz[p], acc = W . x (the 2^in_log2 input scale
 * applied to the sum: the same integer as the sum of scaled inputs). The plan comes by value
 * and hid / n as arguments so that, inlined, they stay in registers (constants where the
 * caller dispatches on them). */
static inline __attribute__((always_inline)) void input_terms(const cell_plan cp, int32_t hid,
                                                              int32_t n, const int16_t *x,
                                                              int32_t in_log2,
                                                              int32_t *restrict out,
                                                              int32_t *restrict acc, int out_of_line)
{
    const int32_t *wm = cp.w_mult, *ws = cp.w_sh, *cst = cp.cst;
    matvec_s8_s16(cp.cell->w, cp.wb, x, hid, n, acc, out_of_line);
    if (cp.w_fast) { /* rp_requantize's 32-bit path; the plan proved no clamp is needed */
        for (int32_t p = 0; p < hid; p++) {
            const int32_t hi = (int32_t)(((int64_t)(acc[p] * (1 << in_log2)) * wm[p]) >> 32);
            out[p] = (((hi >> ws[p]) + 1) >> 1) + cst[4 * p + 3];
        }
        return;
    }
    for (int32_t p = 0; p < hid; p++) {
        const int32_t v = rp_requantize(acc[p] * (1 << in_log2), wm[p], ws[p]);
        out[p] = rp_clamp(v, -RP_PRE_LIMIT, RP_PRE_LIMIT) + cst[4 * p + 3];
    }
}

/* pixel_terms' loop; h1 and c are constants where it is inlined. */
static inline __attribute__((always_inline)) void pixel_terms_n(
    const cell_plan p1, int32_t h1, int32_t c, int32_t off, const int8_t *const *px,
    const int8_t *base, int32_t n, int16_t *restrict xs, int32_t *restrict out,
    int32_t *restrict acc, int out_of_line)
{
    for (int32_t t = 0; t < n; t++) {
        const int8_t *q8 = px != NULL ? px[t] : base + (size_t)t * c;
        int32_t k = 0;
#if RP_USE_DSP
        const uint32_t off2 = rp_dup16(off);
        for (; k + 4 <= c; k += 4) { /* (b0, b2) and (b1, b3) + offset: the pair layout */
            const uint32_t q = rp_load_u32(q8 + k);
            const uint32_t even = (uint32_t)__sxtab16(off2, q);
            const uint32_t odd = (uint32_t)rp_sxtab16_odd(off2, q);
            memcpy(xs + k, &even, 4);
            memcpy(xs + k + 2, &odd, 4);
        }
#endif
        for (; k < c; k++) {
            xs[k] = (int16_t)(q8[k] + off);
        }
        input_terms(p1, h1, c, xs, RP_RNN_IN_LOG2, out + (size_t)t * h1, acc, out_of_line);
    }
}

/* RNN1's input terms of n pixels (c int8 channels each) into out + t * h1: pixel t is px[t],
 * or base + t * c where px is NULL. */
static void pixel_terms(const rp_rnnpool_layer *l, const rnn_work *wk,
                        const int8_t *const *px, const int8_t *base, int32_t n, int32_t *out)
{
    const cell_plan p1 = wk->p1;
    const int32_t c = l->in.c, off = l->input_offset;
#if RP_USE_DSP
    if (p1.hid == 8 && c == 4) {
        pixel_terms_n(p1, 8, 4, off, px, base, n, wk->xs, out, wk->acc, 0);
        return;
    }
    if (p1.hid == 16 && c == 4) {
        pixel_terms_n(p1, 16, 4, off, px, base, n, wk->xs, out, wk->acc, 0);
        return;
    }
#endif
    pixel_terms_n(p1, p1.hid, c, off, px, base, n, wk->xs, out, wk->acc, 0);
}

/* pixel_terms for a plan with or without unpacked weights (the last-layer kernel's RNN1). */
static void pixel_terms_any(const rp_rnnpool_layer *l, const rnn_work *wk, const int8_t *base,
                            int32_t n, int32_t *out)
{
#if RP_USE_DSP
    if (wk->p1.wb == NULL) {
        pixel_terms_n(wk->p1, wk->p1.hid, l->in.c, l->input_offset, NULL, base, n, wk->xs, out,
                      wk->acc, 1);
        return;
    }
#endif
    pixel_terms(l, wk, NULL, base, n, out);
}

/* ---- gates: the branch-free forms (DSP) and their plain equivalents ---- */

/* clamp(e >> 1, 0, Q): the quantSigmoid of e = pre + bias_gate + Q. */
static inline int32_t z_quant(int32_t e)
{
#if RP_USE_DSP
    /* e & ~1 = 2 (e >> 1); USAT #15 clamps it to [0, 2Q - 1], (. + 1) >> 1 maps 2Q - 1 to Q */
    return (int32_t)((__usat(e & ~1, 15) + 1) >> 1);
#else
    return rp_clamp(e >> 1, 0, RP_Q14);
#endif
}

/* clamp(x, -Q, Q), |x| < 2^30: the quantTanh. */
static inline int32_t ht_quant(int32_t x)
{
#if RP_USE_DSP
    return (rp_ssat16_lsl1(x) + 1) >> 1; /* clamp(2x, -2Q, 2Q - 1), rounded back up to Q */
#else
    return rp_clamp(x, -RP_Q14, RP_Q14);
#endif
}

/* Table interpolation at u = clamp(x, -8Q, 8Q - 1) + 8Q, given x + 8Q: tab[i] + (((tab[i + 1] -
 * tab[i]) * f + 256) >> 9) = (tab[i] * (512 - f) + tab[i + 1] * f + 256) >> 9. */
static inline int32_t table_at(const int16_t *tab, int32_t x8)
{
#if RP_USE_DSP
    const uint32_t u = __usat(x8, 18);
    const uint32_t i = u >> 9, f = u & 511u;
    const uint32_t pair = rp_load_u32(tab + i); /* (tab[i], tab[i + 1]) */
    return __smlad((int32_t)pair, (int32_t)((f << 16) + (512u - f)), 256) >> 9;
#else
    const int32_t u = rp_clamp(x8, 0, 16 * RP_Q14 - 1);
    const int32_t i = u >> 9, f = u & 511;
    return tab[i] + ((((int32_t)tab[i + 1] - tab[i]) * f + 256) >> 9);
#endif
}

/* Linear interpolation in a table sampled every 2^9 (1/32 in Q14) on [-8, 8). */
static int32_t act_table(const int16_t *tab, int32_t x)
{
    const int32_t u = rp_clamp(x, -8 * RP_Q14, 8 * RP_Q14 - 1) + 8 * RP_Q14;
    const int32_t i = u >> 9;
    const int32_t f = u & 511;
    return tab[i] + ((((int32_t)tab[i + 1] - tab[i]) * f + 256) >> 9);
}

/* One fast step: pre holds the input terms with bz folded in, h is updated in place (every
 * unit's new value depends on its own old value and the products, computed first). coef =
 * ((zeta * (Q - z)) >> 14) + nu is computed as (zeta + nu) + ((-zeta * z) >> 14): zeta * Q is a
 * multiple of 2^14, so the floors agree. */
static inline __attribute__((always_inline)) void step_fast(
    const int32_t *restrict pre, int16_t *restrict h, int32_t *restrict acc,
    const int32_t *restrict cst, const int8_t *u, const int32_t *ub, const int16_t *sig,
    const int16_t *tnh, int32_t mzeta, int32_t k, int32_t hid, int first, int tables, int out_of_line)
{
    if (!first) {
        matvec_s8_s16(u, ub, h, hid, hid, acc, out_of_line);
    }
    for (int32_t p = 0; p < hid; p++) {
        int32_t e = pre[p];
        if (!first) { /* rp_requantize's 32-bit path; the plan proved no clamp is needed */
            const int32_t hi = (int32_t)(((int64_t)acc[p] * cst[4 * p]) >> 32);
            e += ((hi >> cst[4 * p + 1]) + 1) >> 1;
        }
        int32_t z, ht;
        if (tables) {
            z = table_at(sig, e);
            ht = table_at(tnh, e + cst[4 * p + 2]);
        } else {
            z = z_quant(e);
            ht = ht_quant(e + cst[4 * p + 2]);
        }
        const int32_t coef = k + ((mzeta * z) >> 14);
        int32_t a;
        if (first) {
            a = coef * ht + (1 << 13);
        } else {
#if RP_USE_DSP
            a = __smlabb(z, h[p], 1 << 13) + coef * ht; /* z <= Q fits a halfword */
#else
            a = z * h[p] + (1 << 13) + coef * ht;
#endif
        }
        h[p] = (int16_t)rp_sat16_asr14(a);
    }
}

#if RP_USE_DSP
/* Halfwords (lo, hi): PKHBT. */
static inline uint32_t rp_pack16(int32_t lo, int32_t hi)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

/* step_fast's quant gates for the positions p, p + 1 at once (the state words hold both):
 * z and ht are saturated in 32 bits (USAT / SSAT of 2x as in z_quant / ht_quant), packed, and
 * their final (. + 1) >> 1 is one UHADD16 / SHADD16 (halving adds of 1); the products are
 * halfword MACs (SMLABB / SMLATT / SMLATB). The same integers as step_fast. */
static inline __attribute__((always_inline)) void step_quant_pairs(
    const int32_t *restrict pre, int16_t *restrict h, int32_t *restrict acc,
    const int32_t *restrict cst, const int8_t *u, const int32_t *ub, int32_t mzeta, int32_t k,
    int32_t hid, int first, int out_of_line)
{
    const uint32_t ones = 0x00010001u;
    if (!first) {
        matvec_s8_s16(u, ub, h, hid, hid, acc, out_of_line);
    }
    for (int32_t p = 0; p < hid; p += 2) {
        int32_t e0 = pre[p], e1 = pre[p + 1];
        if (!first) {
            const int32_t hi0 = (int32_t)(((int64_t)acc[p] * cst[4 * p]) >> 32);
            const int32_t hi1 = (int32_t)(((int64_t)acc[p + 1] * cst[4 * p + 4]) >> 32);
            e0 += ((hi0 >> cst[4 * p + 1]) + 1) >> 1;
            e1 += ((hi1 >> cst[4 * p + 5]) + 1) >> 1;
        }
        const uint32_t zz = __uhadd16(rp_pack16((int32_t)__usat(e0 & ~1, 15),
                                                (int32_t)__usat(e1 & ~1, 15)), ones);
        const int32_t tt = __shadd16((int32_t)rp_pack16(rp_ssat16_lsl1(e0 + cst[4 * p + 2]),
                                                        rp_ssat16_lsl1(e1 + cst[4 * p + 6])),
                                     (int32_t)ones);
        const int32_t c0 = k + (__smlabb((int32_t)zz, mzeta, 0) >> 14);
        const int32_t c1 = k + (__smlatb((int32_t)zz, mzeta, 0) >> 14);
        int32_t a0, a1;
        if (first) {
            a0 = __smlabb(tt, c0, 1 << 13);
            a1 = __smlatb(tt, c1, 1 << 13);
        } else {
            const int32_t hh = (int32_t)rp_load_u32(h + p);
            a0 = __smlabb(tt, c0, __smlabb((int32_t)zz, hh, 1 << 13));
            a1 = __smlatb(tt, c1, __smlatt((int32_t)zz, hh, 1 << 13));
        }
        const uint32_t out = rp_pack16(rp_sat16_asr14(a0), rp_sat16_asr14(a1));
        memcpy(h + p, &out, 4);
    }
}

static inline __attribute__((always_inline)) void sequence_pairs(
    const cell_plan *cp, const int32_t *x, int32_t step, int32_t len, int16_t *restrict h,
    int32_t *restrict acc, int32_t hid, int out_of_line)
{
    const int32_t *cst = cp->cst, *ub = cp->ub;
    const int8_t *u = cp->cell->u;
    const int32_t mzeta = -cp->cell->zeta_q14, k = cp->cell->zeta_q14 + cp->cell->nu_q14;
    step_quant_pairs(x, h, acc, cst, u, ub, mzeta, k, hid, 1, out_of_line);
    for (int32_t t = 1; t < len; t++) {
        x += step;
        step_quant_pairs(x, h, acc, cst, u, ub, mzeta, k, hid, 0, out_of_line);
    }
}
#endif

/* A fast sequence (see sequence()); hid and tables are constants where it is inlined. */
static inline __attribute__((always_inline)) void sequence_fast(
    const cell_plan *cp, const int32_t *x, int32_t step, int32_t len, int16_t *restrict h,
    int32_t *restrict acc, int32_t hid, int tables, int out_of_line)
{
    const int32_t *cst = cp->cst, *ub = cp->ub;
    const int8_t *u = cp->cell->u;
    const int16_t *sig = cp->cell->sigmoid_table, *tnh = cp->cell->tanh_table;
    const int32_t mzeta = -cp->cell->zeta_q14, k = cp->cell->zeta_q14 + cp->cell->nu_q14;
    step_fast(x, h, acc, cst, u, ub, sig, tnh, mzeta, k, hid, 1, tables, out_of_line);
    for (int32_t t = 1; t < len; t++) {
        x += step;
        step_fast(x, h, acc, cst, u, ub, sig, tnh, mzeta, k, hid, 0, tables, out_of_line);
    }
}

/* One step of the general path (any shift, any bias): the reference's formulas. */
static void step_general(const cell_plan *cp, const int32_t *pre, int16_t *h, int32_t *acc,
                         int first)
{
    const rp_fastgrnn_cell *cell = cp->cell;
    const int32_t hid = cp->hid;
    if (!first) {
        matvec_s8_s16(cell->u, cp->ub, h, hid, hid, acc, cp->ub == NULL);
    }
    for (int32_t p = 0; p < hid; p++) {
        const int32_t i = rp_pair_index(p, hid);
        int32_t pre_i = pre[p];
        if (!first) {
            pre_i += rp_clamp(rp_requantize(acc[p], cp->cst[4 * p], cp->cst[4 * p + 1]), -RP_PRE_LIMIT,
                              RP_PRE_LIMIT);
        }
        int32_t z, ht;
        if (cp->tables) {
            z = act_table(cell->sigmoid_table, pre_i + cell->bias_gate[i]);
            ht = act_table(cell->tanh_table, pre_i + cell->bias_update[i]);
        } else {
            z = rp_clamp((pre_i + cell->bias_gate[i] + RP_Q14) >> 1, 0, RP_Q14);
            ht = rp_clamp(pre_i + cell->bias_update[i], -RP_Q14, RP_Q14);
        }
        const int32_t coef = ((cell->zeta_q14 * (RP_Q14 - z)) >> 14) + cell->nu_q14;
        const int32_t hp = first ? 0 : h[p];
        h[p] = (int16_t)rp_clamp((z * hp + coef * ht + (1 << 13)) >> 14, INT16_MIN, INT16_MAX);
    }
}


/* Runs a cell from a zero state over len input-term vectors (pre + t * hid, t = 0 .. len - 1,
 * or backwards); the last state ends in h (pair layout). */
static void sequence(const cell_plan *cp, const int32_t *pre, int32_t len, int reverse,
                     int16_t *h, int32_t *acc)
{
    const int32_t hid = cp->hid;
    const int32_t step = reverse ? -hid : hid;
    const int32_t *x = pre + (reverse ? (size_t)(len - 1) * hid : 0);
    if (len <= 0) {
        for (int32_t p = 0; p < hid; p++) {
            h[p] = 0;
        }
        return;
    }
    if (cp->fast) {
#if RP_USE_DSP
        if (cp->pairs && hid == 8) {
            sequence_pairs(cp, x, step, len, h, acc, 8, 0);
        } else if (cp->pairs && hid == 16) {
            sequence_pairs(cp, x, step, len, h, acc, 16, 0);
        } else if (cp->pairs) {
            sequence_pairs(cp, x, step, len, h, acc, hid, 0);
        } else if (hid == 8 && cp->tables) {
            sequence_fast(cp, x, step, len, h, acc, 8, 1, 0);
        } else if (hid == 8) {
            sequence_fast(cp, x, step, len, h, acc, 8, 0, 0);
        } else if (hid == 16 && cp->tables) {
            sequence_fast(cp, x, step, len, h, acc, 16, 1, 0);
        } else if (hid == 16) {
            sequence_fast(cp, x, step, len, h, acc, 16, 0, 0);
        } else
#endif
        if (cp->tables) {
            sequence_fast(cp, x, step, len, h, acc, hid, 1, 0);
        } else {
            sequence_fast(cp, x, step, len, h, acc, hid, 0, 0);
        }
    } else {
        step_general(cp, x, h, acc, 1);
        for (int32_t t = 1; t < len; t++) {
            x += step;
            step_general(cp, x, h, acc, 0);
        }
    }
}

/* One step of a cell on the input terms pre (pair layout), state h updated in place; first: h is
 * the zero state (not read). The same integers as a step of sequence(). */
static void advance(const cell_plan *cp, const int32_t *pre, int16_t *h, int32_t *acc, int first)
{
    if (!cp->fast) {
        step_general(cp, pre, h, acc, first);
        return;
    }
    const int32_t hid = cp->hid, *cst = cp->cst, *ub = cp->ub;
    const int8_t *u = cp->cell->u;
    const int32_t mzeta = -cp->cell->zeta_q14, k = cp->cell->zeta_q14 + cp->cell->nu_q14;
#if RP_USE_DSP
    if (cp->pairs) {
        step_quant_pairs(pre, h, acc, cst, u, ub, mzeta, k, hid, first, 1);
        return;
    }
#endif
    const int16_t *sig = cp->cell->sigmoid_table, *tnh = cp->cell->tanh_table;
    if (cp->tables) {
        step_fast(pre, h, acc, cst, u, ub, sig, tnh, mzeta, k, hid, first, 1, 1);
    } else {
        step_fast(pre, h, acc, cst, u, ub, sig, tnh, mzeta, k, hid, first, 0, 1);
    }
}

/* sequence() for a plan with or without unpacked weights (the last-layer kernel's cells): the
 * packed fast paths run here, generic and out of line, so that sequence()'s specialised paths
 * stay as they were. */
static void seq_any(const cell_plan *cp, const int32_t *pre, int32_t len, int reverse,
                    int16_t *h, int32_t *acc)
{
#if RP_USE_DSP
    if (cp->ub == NULL && cp->fast && len > 0) {
        const int32_t hid = cp->hid, step = reverse ? -hid : hid;
        const int32_t *x = pre + (reverse ? (size_t)(len - 1) * hid : 0);
        if (cp->pairs) {
            sequence_pairs(cp, x, step, len, h, acc, hid, 1);
        } else if (cp->tables) {
            sequence_fast(cp, x, step, len, h, acc, hid, 1, 1);
        } else {
            sequence_fast(cp, x, step, len, h, acc, hid, 0, 1);
        }
        return;
    }
#endif
    sequence(cp, pre, len, reverse, h, acc);
}

static int rnnpool_valid(const rp_rnnpool_layer *l)
{
    return l->patch_h > 0 && l->patch_w > 0 && l->patch_h <= RP_MAX_KERNEL &&
           l->stride_h > 0 && l->stride_w > 0 && l->rnn1.input_size == l->in.c &&
           l->in.c > 0 && l->rnn2.input_size == l->rnn1.hidden_size &&
           l->rnn1.hidden_size > 0 && l->rnn1.hidden_size <= RP_MAX_HIDDEN &&
           l->rnn2.hidden_size > 0 && l->rnn2.hidden_size <= RP_MAX_HIDDEN &&
           l->out.c == 4 * l->rnn2.hidden_size && l->out.w > 0 && l->rnn1.w != NULL &&
           l->rnn1.u != NULL && l->rnn2.w != NULL && l->rnn2.u != NULL;
}

size_t rp_rnnpool_get_min_buffer_size(const rp_rnnpool_layer *l)
{
    return l == NULL ? 0 : min_size(l);
}

size_t rp_rnnpool_get_buffer_size(const rp_rnnpool_layer *l)
{
    return l == NULL ? 0 : min_size(l) + (l->row_cache ? cache_size(l) : 0);
}

static inline __attribute__((always_inline)) void summaries_out(const rp_rnnpool_layer *l,
                                                                 const rnn_work *wk, int8_t *out,
                                                                 int any_plan);

/* One patch. The column summaries of its first reuse_cols columns are already in col_sum (the
 * previous patch of the row: same rows, same columns), the row summaries of its first
 * reuse_rows rows in row_sum (from the row cache). */
static void rnnpool_patch(const rp_rnnpool_layer *l, const rnn_work *wk,
                          const int8_t *const *rows, int32_t col0, int32_t reuse_cols,
                          int32_t reuse_rows, int8_t *out)
{
    const int32_t ph = l->patch_h, pw = l->patch_w, c = l->in.c;
    const int32_t h1 = l->rnn1.hidden_size;
    const int8_t *px[RP_MAX_KERNEL];
    for (int32_t r = reuse_rows; r < ph; r++) { /* RNN1 along each row */
        pixel_terms(l, wk, NULL, rows[r] + (size_t)col0 * c, pw, wk->pre1);
        sequence(&wk->p1, wk->pre1, pw, 0, wk->row_sum + (size_t)r * h1, wk->acc);
    }
    for (int32_t q = reuse_cols; q < pw; q++) { /* RNN1 along each column */
        for (int32_t t = 0; t < ph; t++) {
            px[t] = rows[t] + (size_t)(col0 + q) * c;
        }
        pixel_terms(l, wk, px, NULL, ph, wk->pre1);
        sequence(&wk->p1, wk->pre1, ph, 0, wk->col_sum + (size_t)q * h1, wk->acc);
    }
    summaries_out(l, wk, out, 0);
}

/* RNN2 over the patch_h row summaries (wk->row_sum) and the patch_w column summaries
 * (wk->col_sum), both directions, requantised: out = rows fwd, rows bwd, cols fwd, cols bwd.
 * any_plan (a constant): the plan may lack the unpacked weights (the last-layer kernel). */
static inline __attribute__((always_inline)) void summaries_out(const rp_rnnpool_layer *l,
                                                                 const rnn_work *wk, int8_t *out,
                                                                 int any_plan)
{
    const int32_t h1 = l->rnn1.hidden_size, h2 = l->rnn2.hidden_size;
    const int16_t *seqs[2] = {wk->row_sum, wk->col_sum};
    const int32_t lens[2] = {l->patch_h, l->patch_w};
    for (int32_t s = 0; s < 2; s++) { /* RNN2: rows fwd, rows bwd, cols fwd, cols bwd */
        for (int32_t t = 0; t < lens[s]; t++) {
            input_terms(wk->p2, h2, h1, seqs[s] + (size_t)t * h1, 0, wk->pre2 + (size_t)t * h2,
                        wk->acc, any_plan);
        }
        for (int32_t d = 0; d < 2; d++) {
            if (any_plan) {
                seq_any(&wk->p2, wk->pre2, lens[s], d, wk->h, wk->acc);
            } else {
                sequence(&wk->p2, wk->pre2, lens[s], d, wk->h, wk->acc);
            }
            for (int32_t i = 0; i < h2; i++) {
                int32_t v = rp_requantize(wk->h[rp_pair_index(i, h2)], l->output_multiplier,
                                          l->output_rshift);
                v = rp_clamp(v, INT32_MIN + 128, INT32_MAX - 128) + l->output_offset;
                out[(2 * s + d) * h2 + i] = (int8_t)rp_clamp(v, l->act_min, l->act_max);
            }
        }
    }
}

/* Carves a valid layer's scratch (4-byte aligned, min_size() bytes or more) and loads (or, with
 * RP_RNNPOOL_SCRATCH_PLAN, builds) the cells' plans. */
static rp_status load(const rp_rnnpool_layer *l, void *buf, rnn_work *wk, int any_plan)
{
    int32_t *mem;
    rnn_carve(l, buf, wk, &mem);
#ifdef RP_RNNPOOL_SCRATCH_PLAN
    (void)any_plan;
    const int32_t h1 = l->rnn1.hidden_size, h2 = l->rnn2.hidden_size;
    const int64_t off = l->input_offset < 0 ? -(int64_t)l->input_offset : l->input_offset;
    int32_t *wmem = mem + 6 * (h1 + h2);
    wmem = plan_cell(&l->rnn1, &wk->p1, (128 + off) << RP_RNN_IN_LOG2, mem, wmem);
    plan_cell(&l->rnn2, &wk->p2, 32768, mem + 6 * h1, wmem);
#else
    (void)mem;
    if (l->plan == NULL || l->plan->pair_layout != RP_RNNPOOL_PAIR_LAYOUT ||
        !use_plan(&l->rnn1, &l->plan->rnn1, &wk->p1) ||
        !use_plan(&l->rnn2, &l->plan->rnn2, &wk->p2) ||
        (RP_USE_DSP && !any_plan && (wk->p1.wb == NULL || wk->p2.wb == NULL))) {
        return RP_ARG_ERROR; /* the patch kernels take unpacked weights on the DSP build */
    }
#endif
#ifdef RP_DEBUG_PATHS
    const cell_plan *plans[2] = {&wk->p1, &wk->p2};
    for (int32_t k = 0; k < 2; k++) {
        rp_rnnpool_last_paths[k].fast_gates = plans[k]->fast != 0;
        rp_rnnpool_last_paths[k].w_fast = plans[k]->w_fast != 0;
        rp_rnnpool_last_paths[k].pairs = plans[k]->pairs != 0;
        rp_rnnpool_last_paths[k].tables = plans[k]->tables != 0;
    }
#endif
    return RP_OK;
}

static rp_status prepare(const rp_rnnpool_layer *l, void *buf, size_t size, rnn_work *wk)
{
    if (l == NULL || buf == NULL || !rnnpool_valid(l) || ((uintptr_t)buf & 3u) != 0 ||
        size < min_size(l)) {
        return RP_ARG_ERROR;
    }
    return load(l, buf, wk, 0);
}

rp_status rp_rnnpool_s8_patch(const rp_rnnpool_layer *l, void *buf, size_t size,
                              const int8_t *const *rows, int32_t col0, int8_t *out)
{
    rnn_work wk;
    if (rows == NULL || out == NULL || prepare(l, buf, size, &wk) != RP_OK || col0 < 0 ||
        col0 + l->patch_w > l->in.w) {
        return RP_ARG_ERROR;
    }
    for (int32_t r = 0; r < l->patch_h; r++) {
        if (rows[r] == NULL) {
            return RP_ARG_ERROR;
        }
    }
    rnnpool_patch(l, &wk, rows, col0, 0, 0, out);
    return RP_OK;
}

/* The row cache's header (first RP_HDR_BYTES of the buffer): the patch row whose last
 * `overlap` row summaries the cache holds, its complement, and the layer. */
typedef struct {
    int32_t py;
    int32_t check;
    const rp_rnnpool_layer *layer;
} cache_hdr;

static void hdr_get(const void *buf, cache_hdr *hd)
{
    memcpy(&hd->py, buf, 4);
    memcpy(&hd->check, (const uint8_t *)buf + 4, 4);
    memcpy(&hd->layer, (const uint8_t *)buf + 8, sizeof hd->layer);
}

static void hdr_set(void *buf, int32_t py, const rp_rnnpool_layer *l)
{
    const int32_t check = ~py;
    memcpy(buf, &py, 4);
    memcpy((uint8_t *)buf + 4, &check, 4);
    memcpy((uint8_t *)buf + 8, &l, sizeof l);
}

/* Every patch of one output row; py >= 0 uses and refreshes the row cache (see the header). */
static rp_status rnnpool_row(const rp_rnnpool_layer *l, void *buf, size_t size,
                             const int8_t *const *rows, int32_t py, int8_t *out_row)
{
    rnn_work wk;
    if (rows == NULL || out_row == NULL || prepare(l, buf, size, &wk) != RP_OK ||
        (int32_t)(l->out.w - 1) * l->stride_w + l->patch_w > l->in.w) {
        return RP_ARG_ERROR;
    }
    for (int32_t r = 0; r < l->patch_h; r++) {
        if (rows[r] == NULL) {
            return RP_ARG_ERROR;
        }
    }
    const int32_t pw = l->patch_w, sw = l->stride_w, sh = l->stride_h;
    const int32_t h1 = l->rnn1.hidden_size, ov_c = sw < pw ? pw - sw : 0;
    const int32_t ov_r = row_overlap(l);
    const size_t slot = (size_t)ov_r * h1; /* int16 per patch in the cache */
    const int use_cache = py >= 0 && ov_r > 0 && size >= min_size(l) + cache_size(l);
    int32_t reuse_rows = 0;
    if (use_cache) {
        cache_hdr hd;
        hdr_get(buf, &hd);
        if (py > 0 && hd.py == py - 1 && hd.check == ~hd.py && hd.layer == l) {
            reuse_rows = ov_r;
        }
        hdr_set(buf, INT32_MIN, l); /* invalid until this row is complete */
    }
    for (int32_t px = 0; px < l->out.w; px++) {
        int16_t *cached = wk.cache + (size_t)px * slot;
        if (px > 0 && ov_c > 0) {
            memmove(wk.col_sum, wk.col_sum + (size_t)sw * h1, sizeof(int16_t) * (size_t)ov_c * h1);
        }
        if (reuse_rows > 0) {
            memcpy(wk.row_sum, cached, sizeof(int16_t) * slot);
        }
        rnnpool_patch(l, &wk, rows, px * sw, px > 0 ? ov_c : 0, reuse_rows,
                      out_row + (size_t)px * l->out.c);
        if (use_cache) { /* rows sh .. ph - 1 are the next patch row's rows 0 .. ov_r - 1 */
            memcpy(cached, wk.row_sum + (size_t)sh * h1, sizeof(int16_t) * slot);
        }
    }
    if (use_cache) {
        hdr_set(buf, py, l);
    }
    return RP_OK;
}

rp_status rp_rnnpool_s8_row(const rp_rnnpool_layer *l, void *buf, size_t size,
                            const int8_t *const *rows, int8_t *out_row)
{
    return rnnpool_row(l, buf, size, rows, -1, out_row);
}

rp_status rp_rnnpool_s8_row_at(const rp_rnnpool_layer *l, void *buf, size_t size,
                               const int8_t *const *rows, int32_t py, int8_t *out_row)
{
    if (py < 0) {
        return RP_ARG_ERROR;
    }
    return rnnpool_row(l, buf, size, rows, py, out_row);
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
        rp_status st = rp_rnnpool_s8_row_at(l, buf, size, rows, py,
                                            out + (size_t)py * l->out.w * l->out.c);
        if (st != RP_OK) {
            return st;
        }
    }
    return RP_OK;
}

/* ---- last-layer RNNPool: the whole map as one patch, fed row by row ----
 * The layer is an rp_rnnpool_layer whose patch is the map (patch = stride = in.h x in.w, out
 * 1 x 1 x 4 h2, no row cache). The scratch is the patch kernel's (min_size): its row summaries
 * hold the finished rows' RNN1 states, its column summaries the column RNN1s' states after the
 * rows so far (advanced one step per row), and the header the next row expected. A row's RNN1
 * input terms are computed once and feed both its row sequence and the column steps, which is
 * exact because W x and U h are requantised separately. */

static int last_valid(const rp_rnnpool_layer *l)
{
    return l->in.h > 0 && l->in.w > 0 && l->patch_h == l->in.h && l->patch_w == l->in.w &&
           l->stride_h == l->in.h && l->stride_w == l->in.w && l->in.c > 0 &&
           l->in.c <= RP_RNNPOOL_LAST_MAX_CHANNELS && l->rnn1.input_size == l->in.c &&
           l->rnn2.input_size == l->rnn1.hidden_size && l->rnn1.hidden_size > 0 &&
           l->rnn1.hidden_size <= RP_RNNPOOL_LAST_MAX_HIDDEN && l->rnn2.hidden_size > 0 &&
           l->rnn2.hidden_size <= RP_RNNPOOL_LAST_MAX_HIDDEN && l->out.h == 1 && l->out.w == 1 &&
           l->out.c == 4 * l->rnn2.hidden_size && !l->row_cache && l->rnn1.w != NULL &&
           l->rnn1.u != NULL && l->rnn2.w != NULL && l->rnn2.u != NULL;
}

size_t rp_rnnpool_last_get_buffer_size(const rp_rnnpool_layer *l)
{
    return l == NULL || !last_valid(l) ? 0 : min_size(l);
}

/* Checks the call and the header (the next row; -1: none begun) and loads the plans. */
static rp_status last_prepare(const rp_rnnpool_layer *l, void *buf, size_t size, rnn_work *wk,
                              int32_t *next)
{
    if (l == NULL || buf == NULL || !last_valid(l) || ((uintptr_t)buf & 3u) != 0 ||
        size < min_size(l)) {
        return RP_ARG_ERROR;
    }
    cache_hdr hd;
    hdr_get(buf, &hd);
    *next = hd.check == ~hd.py && hd.layer == l && hd.py >= 0 && hd.py <= l->in.h ? hd.py : -1;
    return load(l, buf, wk, 1);
}

rp_status rp_rnnpool_last_s8_begin(const rp_rnnpool_layer *l, void *buf, size_t size)
{
    if (l == NULL || buf == NULL || !last_valid(l) || ((uintptr_t)buf & 3u) != 0 ||
        size < min_size(l)) {
        return RP_ARG_ERROR;
    }
    hdr_set(buf, 0, l);
    return RP_OK;
}

rp_status rp_rnnpool_last_s8_row(const rp_rnnpool_layer *l, void *buf, size_t size, int32_t y,
                                 const int8_t *row)
{
    rnn_work wk;
    int32_t next;
    if (row == NULL || last_prepare(l, buf, size, &wk, &next) != RP_OK || y != next ||
        y >= l->in.h) {
        return RP_ARG_ERROR;
    }
    const int32_t w = l->in.w, h1 = l->rnn1.hidden_size;
    pixel_terms_any(l, &wk, row, w, wk.pre1);
    seq_any(&wk.p1, wk.pre1, w, 0, wk.row_sum + (size_t)y * h1, wk.acc);
    for (int32_t q = 0; q < w; q++) {
        advance(&wk.p1, wk.pre1 + (size_t)q * h1, wk.col_sum + (size_t)q * h1, wk.acc, y == 0);
    }
    hdr_set(buf, y + 1, l);
    return RP_OK;
}

rp_status rp_rnnpool_last_s8_end(const rp_rnnpool_layer *l, void *buf, size_t size,
                                 int8_t *out)
{
    rnn_work wk;
    int32_t next;
    if (out == NULL || last_prepare(l, buf, size, &wk, &next) != RP_OK || next != l->in.h) {
        return RP_ARG_ERROR;
    }
    summaries_out(l, &wk, out, 1);
    hdr_set(buf, -1, l); /* finished: a new map needs rp_rnnpool_last_s8_begin() */
    return RP_OK;
}

rp_status rp_rnnpool_last_s8(const rp_rnnpool_layer *l, void *buf, size_t size,
                             const int8_t *in, int8_t *out)
{
    if (in == NULL) {
        return RP_ARG_ERROR;
    }
    rp_status st = rp_rnnpool_last_s8_begin(l, buf, size);
    for (int32_t y = 0; st == RP_OK && y < l->in.h; y++) {
        st = rp_rnnpool_last_s8_row(l, buf, size, y, in + (size_t)y * l->in.w * l->in.c);
    }
    return st == RP_OK ? rp_rnnpool_last_s8_end(l, buf, size, out) : st;
}
