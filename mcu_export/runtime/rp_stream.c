/*
 * rp_stream.c - the streamed front-end: camera rows pushed through a small DAG of row stages.
 *
 * Stage i keeps a ring of its input rows (row y in slot y % ring_rows). A stage computes an
 * output row as soon as its input window is complete and writes it straight into its
 * consumers' rings, into the output map for the output stage, or decodes it for a head stage.
 * An inverted residual block (RP_STAGE_MBCONV) keeps kernel_h - 1 expanded rows: the rows
 * before a window's last are expanded as they arrive, the last one during the output row, a
 * few columns ahead of the depthwise, over the window's first row as its columns retire
 * (rp_mbconv_s8_out_row_fused). Its input ring holds one row (or, with a residual, the rows
 * from output row oy to the last one its window reads). Camera pixels are stored as
 * int8 = pixel - 128. Nothing but rings and one output map is ever held.
 *
 * A row sink (RP_STAGE_GAP, RP_STAGE_RNNPOOL_LAST) consumes each input row as it arrives into its own state (kept next
 * to its one-row ring for the whole run) and writes its one output row after the last.
 *
 * Scheduling is a flat loop: after each camera row, the highest-numbered stage that can do a
 * unit of work (expand one row, compute one output row) does it, until none can. Consumers have
 * higher numbers than their producers, so a producer only writes a new row into a ring once
 * its consumers have taken everything they can from it: rings of max(kernel_h, stride_h) rows
 * suffice, and there is no recursion (the stack stays flat however deep the DAG is).
 */
#include "rp_internal.h"
#include "rp_nn.h"
#include "rp_profile.h"

typedef struct {
    const rp_stream *s;
    rp_detect_ctx *detect;
    int8_t *out;
    int8_t *ring[RP_MAX_STAGES];
    int8_t *exp_ring[RP_MAX_STAGES]; /* blocks with an expansion: expanded rows; row sinks:
                                        their state */
    int32_t ring_rows[RP_MAX_STAGES];
    int32_t received[RP_MAX_STAGES]; /* input rows received */
    int32_t expanded[RP_MAX_STAGES]; /* input rows expanded (blocks with an expansion) or
                                        consumed (row sinks) */
    int32_t produced[RP_MAX_STAGES]; /* output rows produced (padding rows included) */
    int8_t *loc_row, *conf_row;      /* head outputs of one row */
    void *rnn_buf;
    size_t rnn_size;
    void *px; /* pixel passes of the blocks */
    size_t px_size;
} stream_state;

static const rp_conv_layer *head_conv(const rp_stream_stage *st, int conf)
{
    return (const rp_conv_layer *)(conf ? st->head->conf : st->head->loc);
}

/* Bytes of a row sink's state (0: not a sink). */
static size_t sink_state_bytes(const rp_stream_stage *st)
{
    if (st->kind == RP_STAGE_RNNPOOL_LAST) {
        return RP_ALIGN4(rp_rnnpool_last_get_buffer_size(st->rnnpool));
    }
    return st->kind == RP_STAGE_GAP ? RP_ALIGN4(rp_gap_get_sums_size(st->gap)) : 0;
}

/* A row sink's three calls: start its state, consume input row iy, write its output. */
static rp_status sink_begin(const rp_stream_stage *st, void *state)
{
    if (st->kind == RP_STAGE_RNNPOOL_LAST) {
        return rp_rnnpool_last_s8_begin(st->rnnpool, state, sink_state_bytes(st));
    }
    return st->kind == RP_STAGE_GAP ? rp_gap_s8_begin(st->gap, (int32_t *)state) : RP_NO_IMPL;
}

static rp_status sink_row(const rp_stream_stage *st, void *state, int32_t iy, const int8_t *row)
{
    if (st->kind == RP_STAGE_RNNPOOL_LAST) {
        return rp_rnnpool_last_s8_row(st->rnnpool, state, sink_state_bytes(st), iy, row);
    }
    return st->kind == RP_STAGE_GAP ? rp_gap_s8_add_row(st->gap, (int32_t *)state, row)
                                    : RP_NO_IMPL;
}

static rp_status sink_end(const rp_stream_stage *st, void *state, int8_t *dst)
{
    if (st->kind == RP_STAGE_RNNPOOL_LAST) {
        return rp_rnnpool_last_s8_end(st->rnnpool, state, sink_state_bytes(st), dst);
    }
    return st->kind == RP_STAGE_GAP ? rp_gap_s8_finish(st->gap, (const int32_t *)state, dst)
                                    : RP_NO_IMPL;
}

static rp_dims stage_in(const rp_stream_stage *st)
{
    switch (st->kind) {
    case RP_STAGE_RNNPOOL:
    case RP_STAGE_RNNPOOL_LAST:
        return st->rnnpool->in;
    case RP_STAGE_L2NORM:
        return st->l2norm->dims;
    case RP_STAGE_HEAD:
        return head_conv(st, 0)->in;
    case RP_STAGE_MBCONV:
        return st->mbconv->expand != NULL ? st->mbconv->expand->in : st->mbconv->depthwise->in;
    case RP_STAGE_GAP:
        return st->gap->in;
    default:
        return st->conv->in;
    }
}

static rp_dims stage_out(const rp_stream_stage *st)
{
    switch (st->kind) {
    case RP_STAGE_RNNPOOL:
    case RP_STAGE_RNNPOOL_LAST:
        return st->rnnpool->out;
    case RP_STAGE_L2NORM:
        return st->l2norm->dims;
    case RP_STAGE_HEAD:
        return head_conv(st, 0)->out;
    case RP_STAGE_MBCONV:
        return st->mbconv->project->out;
    case RP_STAGE_GAP: {
        const rp_dims d = {1, 1, st->gap->in.c};
        return d;
    }
    default:
        return st->conv->out;
    }
}

/* Output of stage i as its consumers see it (replicate padding included). */
static rp_dims stage_out_padded(const rp_stream *s, int32_t i)
{
    rp_dims d = stage_out(&s->stages[i]);
    if (i == s->pad_stage) {
        d.h += s->pad_bottom;
        d.w += s->pad_right;
    }
    return d;
}

/* Window geometry: output row oy reads input rows [oy * stride - pad, ... + kernel - 1]. */
static void stage_window(const rp_stream_stage *st, int32_t *kernel, int32_t *stride,
                         int32_t *pad)
{
    const rp_conv_layer *conv = st->conv;
    switch (st->kind) {
    case RP_STAGE_RNNPOOL:
        *kernel = st->rnnpool->patch_h;
        *stride = st->rnnpool->stride_h;
        *pad = 0;
        return;
    case RP_STAGE_L2NORM:
    case RP_STAGE_RNNPOOL_LAST:
    case RP_STAGE_GAP: /* a sink takes its input rows one at a time */
        *kernel = *stride = 1;
        *pad = 0;
        return;
    case RP_STAGE_HEAD:
        conv = head_conv(st, 0);
        break;
    case RP_STAGE_MBCONV:
        conv = st->mbconv->depthwise;
        break;
    default:
        break;
    }
    *kernel = conv->kernel_h;
    *stride = conv->stride_h;
    *pad = conv->pad_top;
}

/* Input rows a stage keeps. A block with an expansion expands a row on arrival, so it keeps
 * one, or with a residual the rows from oy to its window's last (kernel - pad). */
static int32_t ring_rows_of(const rp_stream_stage *st)
{
    int32_t k, s, p;
    stage_window(st, &k, &s, &p);
    if (st->kind == RP_STAGE_MBCONV && st->mbconv->expand != NULL) {
        return st->mbconv->residual != NULL ? k - p : 1;
    }
    return k > s ? k : s;
}

static int dims_equal(rp_dims a, rp_dims b)
{
    return a.h == b.h && a.w == b.w && a.c == b.c;
}

static int stage_valid(const rp_stream_stage *st)
{
    switch (st->kind) {
    case RP_STAGE_CONV:
    case RP_STAGE_DWCONV:
        return st->conv != NULL;
    case RP_STAGE_RNNPOOL:
        return st->rnnpool != NULL;
    case RP_STAGE_L2NORM:
        return st->l2norm != NULL;
    case RP_STAGE_RNNPOOL_LAST:
        return st->rnnpool != NULL && rp_rnnpool_last_get_buffer_size(st->rnnpool) > 0;
    case RP_STAGE_GAP:
        return st->gap != NULL && rp_gap_get_sums_size(st->gap) > 0;
    case RP_STAGE_MBCONV: {
        if (!rp_mbconv_valid(st->mbconv)) {
            return 0;
        }
        const rp_conv_layer *dw = st->mbconv->depthwise;
        /* rows are expanded on arrival into kernel_h slots: a window must not skip rows */
        return dw->stride_h <= dw->kernel_h && dw->pad_top < dw->kernel_h;
    }
    case RP_STAGE_HEAD: {
        if (st->head == NULL || st->head->loc == NULL || st->head->conf == NULL ||
            st->head->level == NULL) {
            return 0;
        }
        const rp_conv_layer *a = head_conv(st, 0), *b = head_conv(st, 1);
        return dims_equal(a->in, b->in) && a->kernel_h == b->kernel_h &&
               a->stride_h == b->stride_h && a->pad_top == b->pad_top && a->out.h == b->out.h &&
               a->out.w == b->out.w && a->out.c == 4 && st->head->level->h == a->out.h &&
               st->head->level->w == a->out.w && st->head->level->num_logits == b->out.c;
    }
    default:
        return 0;
    }
}

static int stream_valid(const rp_stream *s)
{
    if (s->num_stages <= 0 || s->num_stages > RP_MAX_STAGES || s->stages == NULL ||
        s->pad_bottom < 0 || s->pad_right < 0 || s->output_stage < 0 ||
        s->output_stage >= s->num_stages || s->stages[s->output_stage].kind == RP_STAGE_HEAD ||
        s->pad_stage < 0 || s->pad_stage >= s->num_stages ||
        s->stages[s->pad_stage].kind == RP_STAGE_HEAD ||
        (sink_state_bytes(&s->stages[s->pad_stage]) > 0 && (s->pad_bottom | s->pad_right))) {
        return 0;
    }
    for (int32_t i = 0; i < s->num_stages; i++) {
        const rp_stream_stage *st = &s->stages[i];
        if (!stage_valid(st) || ring_rows_of(st) > RP_MAX_KERNEL || ring_rows_of(st) < 1 ||
            st->src < -1 || st->src >= i) {
            return 0;
        }
        const rp_dims in = stage_in(st);
        if (st->src == -1) {
            if (in.h != s->image_h || in.w != s->image_w || in.c != s->image_c) {
                return 0;
            }
        } else if (!dims_equal(stage_out_padded(s, st->src), in) ||
                   s->stages[st->src].kind == RP_STAGE_HEAD) {
            return 0;
        }
    }
    return 1;
}

typedef struct {
    size_t loc_max, conf_max, rnn_size, px_size;
} stream_layout;

/* Rings of every stage (+ expanded rows of blocks), then the shared head rows, RNNPool scratch
 * and block pixel passes. */
static size_t layout(const rp_stream *s, int32_t *ring_rows, stream_layout *lay)
{
    size_t size = 0;
    lay->loc_max = lay->conf_max = lay->rnn_size = lay->px_size = 0;
    for (int32_t i = 0; i < s->num_stages; i++) {
        const rp_stream_stage *st = &s->stages[i];
        const rp_dims in = stage_in(st);
        ring_rows[i] = ring_rows_of(st);
        size += RP_ALIGN4((size_t)ring_rows[i] * (size_t)in.w * (size_t)in.c);
        size_t loc = 0, conf = 0, rnn = 0, px = 0;
        if (st->kind == RP_STAGE_HEAD) {
            loc = RP_ALIGN4((size_t)head_conv(st, 0)->out.w * 4);
            conf = RP_ALIGN4((size_t)head_conv(st, 1)->out.w * head_conv(st, 1)->out.c);
        } else if (st->kind == RP_STAGE_RNNPOOL) {
            rnn = RP_ALIGN4(rp_rnnpool_get_buffer_size(st->rnnpool));
        } else if (sink_state_bytes(st) > 0) {
            size += sink_state_bytes(st); /* its own: it lives from the first row to the last */
        } else if (st->kind == RP_STAGE_MBCONV) {
            const int32_t ow = st->mbconv->depthwise->out.w;
            const int32_t n = ow < RP_MBCONV_CHUNK ? ow : RP_MBCONV_CHUNK;
            size += rp_mbconv_stream_ring_bytes(st->mbconv);
            px = st->mbconv->expand != NULL ? rp_mbconv_fused_pixel_bytes(st->mbconv, n)
                                            : rp_mbconv_pixel_bytes(st->mbconv, n);
        }
        lay->loc_max = loc > lay->loc_max ? loc : lay->loc_max;
        lay->conf_max = conf > lay->conf_max ? conf : lay->conf_max;
        lay->rnn_size = rnn > lay->rnn_size ? rnn : lay->rnn_size;
        lay->px_size = px > lay->px_size ? px : lay->px_size;
    }
    return size + lay->loc_max + lay->conf_max + lay->rnn_size + lay->px_size;
}

size_t rp_stream_get_buffer_size(const rp_stream *s)
{
    int32_t ring_rows[RP_MAX_STAGES];
    stream_layout lay;
    if (s == NULL || !stream_valid(s)) {
        return 0;
    }
    return layout(s, ring_rows, &lay);
}

static int8_t *ring_slot(stream_state *ss, int32_t i, int32_t row)
{
    const rp_dims in = stage_in(&ss->s->stages[i]);
    return ss->ring[i] + (size_t)(row % ss->ring_rows[i]) * (size_t)in.w * (size_t)in.c;
}

/* Hands row y of producer p (-1 = camera), which sits in src_row, to every consumer. */
static void push_row(stream_state *ss, int32_t p, int32_t y, const int8_t *src_row,
                     size_t row_bytes)
{
    for (int32_t c = p + 1; c < ss->s->num_stages; c++) {
        if (ss->s->stages[c].src != p) {
            continue;
        }
        int8_t *dst = ring_slot(ss, c, y);
        if (dst != src_row) {
            for (size_t k = 0; k < row_bytes; k++) {
                dst[k] = src_row[k];
            }
        }
        ss->received[c] = y + 1;
    }
}

/* Where stage i writes output row oy: the output map, or the first consumer's ring. */
static int8_t *output_target(stream_state *ss, int32_t i, int32_t oy)
{
    const rp_stream *s = ss->s;
    if (i == s->output_stage) {
        const rp_dims od = stage_out_padded(s, i);
        return ss->out + (size_t)oy * (size_t)od.w * (size_t)od.c;
    }
    for (int32_t c = i + 1; c < s->num_stages; c++) {
        if (s->stages[c].src == i) {
            return ring_slot(ss, c, oy);
        }
    }
    return NULL; /* a stage nobody reads: validated away by the exporter, skipped here */
}

/* Output row oy of stage i from its window rows; a block with fused >= 0 expands that input
 * row during the output row (rp_mbconv_s8_out_row_fused). */
static rp_status compute_row(stream_state *ss, int32_t i, int32_t oy, const int8_t *const *rows,
                             int32_t fused, int8_t *dst)
{
    const rp_stream_stage *st = &ss->s->stages[i];
    rp_status status = RP_OK;
    switch (st->kind) {
    case RP_STAGE_CONV:
        return rp_conv_s8_row(st->conv, rows, dst);
    case RP_STAGE_DWCONV:
        return rp_dwconv_s8_row(st->conv, rows, dst);
    case RP_STAGE_RNNPOOL:
        return rp_rnnpool_s8_row_at(st->rnnpool, ss->rnn_buf, ss->rnn_size, rows, oy, dst);
    case RP_STAGE_L2NORM: {
        rp_l2norm_layer one_row = *st->l2norm;
        one_row.dims.h = 1;
        return rp_l2norm_s8(&one_row, rows[0], dst);
    }
    case RP_STAGE_MBCONV: {
        const rp_mbconv_layer *l = st->mbconv;
        const int8_t *res_row = l->residual != NULL ? ring_slot(ss, i, oy) : NULL;
        if (fused >= 0) {
            return rp_mbconv_s8_out_row_fused(l, rows, ring_slot(ss, i, fused),
                                              rp_mbconv_stream_ring_row(l, ss->exp_ring[i], fused),
                                              res_row, ss->px, ss->px_size, dst);
        }
        return rp_mbconv_s8_out_row(l, rows, res_row, ss->px, ss->px_size, dst);
    }
    case RP_STAGE_HEAD:
        status = rp_conv_s8_row(head_conv(st, 0), rows, ss->loc_row);
        if (status == RP_OK) {
            status = rp_conv_s8_row(head_conv(st, 1), rows, ss->conf_row);
        }
        if (status == RP_OK) {
            status = rp_detect_add_rows(ss->detect, st->head->level, st->head->level_index,
                                        ss->loc_row, ss->conf_row, oy, 1);
        }
        return status;
    default:
        return RP_NO_IMPL;
    }
}

/* A row sink's unit of work: consume its next input row, or after the last one write its
 * output row (the output map or its consumers' rings). */
static rp_status sink_step(stream_state *ss, int32_t i, int *did)
{
    const rp_stream_stage *st = &ss->s->stages[i];
    const rp_dims in = stage_in(st), od = stage_out_padded(ss->s, i);
    *did = 0;
    if (ss->expanded[i] < ss->received[i]) {
        const int32_t iy = ss->expanded[i];
        rp_status status = sink_row(st, ss->exp_ring[i], iy, ring_slot(ss, i, iy));
        if (status != RP_OK) {
            return status;
        }
        ss->expanded[i]++;
        *did = 1;
        return RP_OK;
    }
    if (ss->expanded[i] < in.h || ss->produced[i] >= od.h) {
        return RP_OK; /* waits for rows, or done */
    }
    int8_t *dst = output_target(ss, i, 0);
    *did = 1;
    ss->produced[i] = od.h;
    if (dst == NULL) {
        return RP_OK; /* nobody reads it */
    }
    rp_status status = sink_end(st, ss->exp_ring[i], dst);
    if (status == RP_OK) {
        push_row(ss, i, 0, dst, (size_t)od.w * (size_t)od.c);
    }
    return status;
}

/* One unit of work of stage i, if it can do one: a replicate-padding row, an output row, or
 * (a block with an expansion) the expansion of its next input row. *did says whether it did. */
static rp_status stage_step(stream_state *ss, int32_t i, int *did)
{
    if (sink_state_bytes(&ss->s->stages[i]) > 0) {
        return sink_step(ss, i, did);
    }
    const rp_stream *s = ss->s;
    const rp_stream_stage *st = &s->stages[i];
    const rp_dims in = stage_in(st), od = stage_out(st);
    const int32_t pad_b = i == s->pad_stage ? s->pad_bottom : 0;
    const int32_t pad_r = i == s->pad_stage ? s->pad_right : 0;
    const int32_t oy = ss->produced[i];
    const int expands = st->kind == RP_STAGE_MBCONV && st->mbconv->expand != NULL;
    const int8_t *rows[RP_MAX_KERNEL];
    int32_t k, stride, pad;
    *did = 0;
    if (oy >= od.h + pad_b) {
        return RP_OK; /* done */
    }
    int8_t *dst = st->kind == RP_STAGE_HEAD ? NULL : output_target(ss, i, oy);
    const size_t row_bytes = (size_t)(od.w + pad_r) * (size_t)od.c;
    if (oy >= od.h) { /* a replicated bottom row: a copy of the last one */
        *did = 1;
        ss->produced[i]++;
        if (dst != NULL) {
            const int8_t *last = output_target(ss, i, od.h - 1);
            if (last != dst) {
                for (size_t b = 0; b < row_bytes; b++) {
                    dst[b] = last[b];
                }
            }
            push_row(ss, i, oy, dst, row_bytes);
        }
        return RP_OK;
    }
    stage_window(st, &k, &stride, &pad);
    const int32_t iy0 = oy * stride - pad;
    const int32_t hi = iy0 + k - 1 < in.h - 1 ? iy0 + k - 1 : in.h - 1;
    /* a block expands the window's last row during the output row (fused) unless it is
     * padding; the rows before it are expanded on arrival */
    const int32_t fused = expands && iy0 + k - 1 < in.h ? iy0 + k - 1 : -1;
    const int32_t need = expands ? (fused >= 0 ? fused : hi + 1) : 0;
    if (hi >= ss->received[i] || (expands && ss->expanded[i] < need)) {
        if (expands && ss->expanded[i] < ss->received[i] && ss->expanded[i] < need) {
            const int32_t iy = ss->expanded[i]; /* expand the next row on arrival */
            rp_status status = rp_pwconv_s8_pixels(
                st->mbconv->expand, ring_slot(ss, i, iy), in.w,
                rp_mbconv_stream_ring_row(st->mbconv, ss->exp_ring[i], iy));
            if (status != RP_OK) {
                return status;
            }
            ss->expanded[i]++;
            *did = 1;
        }
        return RP_OK; /* waits for more input rows */
    }
    if (st->kind == RP_STAGE_RNNPOOL_LAST) { /* a row sink (window 1), checked once there is work */
        return sink_step(ss, i, did);
    }
    for (int32_t ky = 0; ky < k; ky++) {
        const int32_t iy = iy0 + ky;
        if (iy < 0 || iy >= in.h || iy == fused) {
            rows[ky] = NULL;
        } else {
            rows[ky] = expands ? rp_mbconv_stream_ring_row(st->mbconv, ss->exp_ring[i], iy)
                               : ring_slot(ss, i, iy);
        }
    }
    *did = 1;
    if (fused >= 0) {
        ss->expanded[i] = fused + 1;
    }
    if (st->kind != RP_STAGE_HEAD && dst == NULL) {
        ss->produced[i]++; /* nobody reads it */
        return RP_OK;
    }
    rp_status status = compute_row(ss, i, oy, rows, fused, dst);
    if (status != RP_OK) {
        return status;
    }
    ss->produced[i]++;
    if (dst != NULL) {
        for (int32_t x = od.w; x < od.w + pad_r; x++) { /* replicate the last column */
            for (int32_t c = 0; c < od.c; c++) {
                dst[(size_t)x * od.c + c] = dst[(size_t)(od.w - 1) * od.c + c];
            }
        }
        push_row(ss, i, oy, dst, row_bytes);
    }
    return RP_OK;
}

/* Runs the highest-numbered stage that can work, again and again, until none can. */
static rp_status run_until_idle(stream_state *ss)
{
    for (;;) {
        int did = 0;
        for (int32_t i = ss->s->num_stages - 1; i >= 0 && !did; i--) {
            RP_PROFILE_BEGIN(RP_PROFILE_ID_STAGE(i));
            rp_status st = stage_step(ss, i, &did);
            RP_PROFILE_END(RP_PROFILE_ID_STAGE(i));
            if (st != RP_OK) {
                return st;
            }
        }
        if (!did) {
            return RP_OK;
        }
    }
}

rp_status rp_stream_run(const rp_stream *s, void *buf, size_t size, rp_read_rows_fn read_rows,
                        void *user, rp_detect_ctx *detect, int8_t *out)
{
    stream_state ss;
    stream_layout lay;
    if (s == NULL || buf == NULL || read_rows == NULL || out == NULL) {
        return RP_ARG_ERROR;
    }
    if (s->num_stages > RP_MAX_STAGES) {
        return RP_NO_IMPL;
    }
    if (!stream_valid(s) || size < rp_stream_get_buffer_size(s)) {
        return RP_ARG_ERROR;
    }
    int32_t cam_consumer = -1;
    for (int32_t i = 0; i < s->num_stages; i++) {
        if (s->stages[i].kind == RP_STAGE_HEAD && detect == NULL) {
            return RP_ARG_ERROR;
        }
        if (sink_state_bytes(&s->stages[i]) > 0 && ((uintptr_t)buf & 3u) != 0) {
            return RP_ARG_ERROR; /* sink states hold int32 */
        }
        if (s->stages[i].src == -1 && cam_consumer < 0) {
            cam_consumer = i;
        }
    }
    if (cam_consumer < 0) {
        return RP_ARG_ERROR;
    }
    ss.s = s;
    ss.detect = detect;
    ss.out = out;
    (void)layout(s, ss.ring_rows, &lay);
    int8_t *p = (int8_t *)buf;
    for (int32_t i = 0; i < s->num_stages; i++) {
        const rp_stream_stage *st = &s->stages[i];
        const rp_dims in = stage_in(st);
        ss.ring[i] = p;
        ss.received[i] = 0;
        ss.expanded[i] = 0;
        ss.produced[i] = 0;
        p += RP_ALIGN4((size_t)ss.ring_rows[i] * (size_t)in.w * (size_t)in.c);
        ss.exp_ring[i] = p;
        if (st->kind == RP_STAGE_MBCONV) {
            p += rp_mbconv_stream_ring_bytes(st->mbconv);
        } else if (sink_state_bytes(st) > 0) {
            rp_status status = sink_begin(st, p);
            if (status != RP_OK) {
                return status;
            }
            p += sink_state_bytes(st);
        }
    }
    ss.loc_row = p;
    ss.conf_row = p + lay.loc_max;
    p += lay.loc_max + lay.conf_max;
    ss.rnn_buf = p;
    ss.rnn_size = lay.rnn_size;
    p += lay.rnn_size;
    ss.px = p;
    ss.px_size = lay.px_size;
    const size_t cam_bytes = (size_t)s->image_w * (size_t)s->image_c;
    for (int32_t y = 0; y < s->image_h; y++) {
        int8_t *slot = ring_slot(&ss, cam_consumer, y);
        if (read_rows(user, (uint8_t *)slot, y, 1) != 0) {
            return RP_IO_ERROR;
        }
        for (size_t k = 0; k < cam_bytes; k++) {
            slot[k] = (int8_t)((uint8_t)slot[k] ^ 0x80u); /* pixel - 128 */
        }
        push_row(&ss, -1, y, slot, cam_bytes);
        rp_status st = run_until_idle(&ss);
        if (st != RP_OK) {
            return st;
        }
    }
    for (int32_t i = 0; i < s->num_stages; i++) {
        if (ss.produced[i] != stage_out_padded(s, i).h) {
            return RP_ARG_ERROR; /* a stage whose input never completed (bad geometry) */
        }
    }
    return RP_OK;
}
