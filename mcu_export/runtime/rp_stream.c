/*
 * rp_stream.c - the streamed front-end: camera rows pushed through a small DAG of row stages.
 *
 * Stage i keeps a ring of its input rows (row y in slot y % ring_rows, ring_rows =
 * max(kernel_h, stride_h)). When a row arrives, the stage computes every output row whose
 * input window is complete and pushes it to its consumers (written straight into their rings,
 * into the output map for the output stage, or decoded for a head stage). Camera pixels are
 * stored as int8 = pixel - 128. Nothing but rings and one output map is ever held.
 */
#include "rp_internal.h"
#include "rp_nn.h"

#define RP_MAX_STAGES 8

typedef struct {
    const rp_stream *s;
    rp_detect_ctx *detect;
    int8_t *out;
    int8_t *ring[RP_MAX_STAGES];
    int32_t ring_rows[RP_MAX_STAGES];
    int32_t received[RP_MAX_STAGES]; /* input rows received */
    int32_t produced[RP_MAX_STAGES]; /* output rows produced */
    int8_t *loc_row, *conf_row;      /* head outputs of one row */
    void *rnn_buf;
    size_t rnn_size;
} stream_state;

static const rp_conv_layer *head_conv(const rp_stream_stage *st, int conf)
{
    return (const rp_conv_layer *)(conf ? st->head->conf : st->head->loc);
}

static rp_dims stage_in(const rp_stream_stage *st)
{
    switch (st->kind) {
    case RP_STAGE_RNNPOOL:
        return st->rnnpool->in;
    case RP_STAGE_L2NORM:
        return st->l2norm->dims;
    case RP_STAGE_HEAD:
        return head_conv(st, 0)->in;
    default:
        return st->conv->in;
    }
}

static rp_dims stage_out(const rp_stream_stage *st)
{
    switch (st->kind) {
    case RP_STAGE_RNNPOOL:
        return st->rnnpool->out;
    case RP_STAGE_L2NORM:
        return st->l2norm->dims;
    case RP_STAGE_HEAD:
        return head_conv(st, 0)->out;
    default:
        return st->conv->out;
    }
}

/* Window geometry: output row oy reads input rows [oy * stride - pad, ... + kernel - 1]. */
static void stage_window(const rp_stream_stage *st, int32_t *kernel, int32_t *stride,
                         int32_t *pad)
{
    switch (st->kind) {
    case RP_STAGE_RNNPOOL:
        *kernel = st->rnnpool->patch_h;
        *stride = st->rnnpool->stride_h;
        *pad = 0;
        break;
    case RP_STAGE_L2NORM:
        *kernel = *stride = 1;
        *pad = 0;
        break;
    case RP_STAGE_HEAD:
        *kernel = head_conv(st, 0)->kernel_h;
        *stride = head_conv(st, 0)->stride_h;
        *pad = head_conv(st, 0)->pad_top;
        break;
    default:
        *kernel = st->conv->kernel_h;
        *stride = st->conv->stride_h;
        *pad = st->conv->pad_top;
        break;
    }
}

static int32_t ring_rows_of(const rp_stream_stage *st)
{
    int32_t k, s, p;
    stage_window(st, &k, &s, &p);
    return k > s ? k : s;
}

static int dims_equal(rp_dims a, rp_dims b)
{
    return a.h == b.h && a.w == b.w && a.c == b.c;
}

static int stream_valid(const rp_stream *s)
{
    if (s->num_stages <= 0 || s->num_stages > RP_MAX_STAGES || s->stages == NULL ||
        s->pad_bottom < 0 || s->pad_right < 0 || s->output_stage < 0 ||
        s->output_stage >= s->num_stages || s->stages[s->output_stage].kind == RP_STAGE_HEAD) {
        return 0;
    }
    for (int32_t i = 0; i < s->num_stages; i++) {
        const rp_stream_stage *st = &s->stages[i];
        switch (st->kind) {
        case RP_STAGE_CONV:
        case RP_STAGE_DWCONV:
            if (st->conv == NULL) {
                return 0;
            }
            break;
        case RP_STAGE_RNNPOOL:
            if (st->rnnpool == NULL) {
                return 0;
            }
            break;
        case RP_STAGE_L2NORM:
            if (st->l2norm == NULL) {
                return 0;
            }
            break;
        case RP_STAGE_HEAD: {
            if (st->head == NULL || st->head->loc == NULL || st->head->conf == NULL ||
                st->head->level == NULL) {
                return 0;
            }
            const rp_conv_layer *a = head_conv(st, 0), *b = head_conv(st, 1);
            if (!dims_equal(a->in, b->in) || a->kernel_h != b->kernel_h ||
                a->stride_h != b->stride_h || a->pad_top != b->pad_top || a->out.h != b->out.h ||
                a->out.w != b->out.w || a->out.c != 4 || st->head->level->h != a->out.h ||
                st->head->level->w != a->out.w || st->head->level->num_logits != b->out.c) {
                return 0;
            }
            break;
        }
        default:
            return 0;
        }
        if (ring_rows_of(st) > RP_MAX_KERNEL || st->src < -1 || st->src >= i) {
            return 0;
        }
        const rp_dims in = stage_in(st);
        if (st->src == -1) {
            if (in.h != s->image_h || in.w != s->image_w || in.c != s->image_c) {
                return 0;
            }
        } else if (!dims_equal(stage_out(&s->stages[st->src]), in) ||
                   s->stages[st->src].kind == RP_STAGE_HEAD) {
            return 0;
        }
    }
    return 1;
}

static size_t layout(const rp_stream *s, int32_t *ring_rows, size_t *loc_max,
                     size_t *conf_max, size_t *rnn_size)
{
    size_t size = 0;
    *loc_max = 0;
    *conf_max = 0;
    *rnn_size = 0;
    for (int32_t i = 0; i < s->num_stages; i++) {
        const rp_stream_stage *st = &s->stages[i];
        const rp_dims in = stage_in(st);
        ring_rows[i] = ring_rows_of(st);
        size += RP_ALIGN4((size_t)ring_rows[i] * (size_t)in.w * (size_t)in.c);
        if (st->kind == RP_STAGE_HEAD) {
            const size_t loc = RP_ALIGN4((size_t)head_conv(st, 0)->out.w * 4);
            const size_t conf = RP_ALIGN4((size_t)head_conv(st, 1)->out.w * head_conv(st, 1)->out.c);
            *loc_max = loc > *loc_max ? loc : *loc_max;
            *conf_max = conf > *conf_max ? conf : *conf_max;
        }
        if (st->kind == RP_STAGE_RNNPOOL) {
            const size_t r = RP_ALIGN4(rp_rnnpool_get_buffer_size(st->rnnpool));
            if (r > *rnn_size) {
                *rnn_size = r;
            }
        }
    }
    return size + *loc_max + *conf_max + *rnn_size;
}

size_t rp_stream_get_buffer_size(const rp_stream *s)
{
    int32_t ring_rows[RP_MAX_STAGES];
    size_t loc_max, conf_max, rnn_size;
    if (s == NULL || !stream_valid(s)) {
        return 0;
    }
    return layout(s, ring_rows, &loc_max, &conf_max, &rnn_size);
}

static int8_t *ring_slot(stream_state *ss, int32_t i, int32_t row)
{
    const rp_dims in = stage_in(&ss->s->stages[i]);
    return ss->ring[i] + (size_t)(row % ss->ring_rows[i]) * (size_t)in.w * (size_t)in.c;
}

static rp_status try_produce(stream_state *ss, int32_t i);

/* Hands row y of producer p (-1 = camera) that sits in src_row to every consumer. */
static rp_status push_row(stream_state *ss, int32_t p, int32_t y, const int8_t *src_row,
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
        rp_status st = try_produce(ss, c);
        if (st != RP_OK) {
            return st;
        }
    }
    return RP_OK;
}

/* Where stage i writes output row oy: the output map, or the first consumer's ring. */
static int8_t *output_target(stream_state *ss, int32_t i, int32_t oy)
{
    const rp_stream *s = ss->s;
    if (i == s->output_stage) {
        const rp_dims od = stage_out(&s->stages[i]);
        return ss->out + (size_t)oy * (size_t)(od.w + s->pad_right) * (size_t)od.c;
    }
    for (int32_t c = i + 1; c < s->num_stages; c++) {
        if (s->stages[c].src == i) {
            return ring_slot(ss, c, oy);
        }
    }
    return NULL; /* a stage nobody reads: validated away by the exporter, skipped here */
}

static rp_status try_produce(stream_state *ss, int32_t i)
{
    const rp_stream_stage *st = &ss->s->stages[i];
    const rp_dims in = stage_in(st), od = stage_out(st);
    int32_t k, stride, pad;
    const int8_t *rows[RP_MAX_KERNEL];
    stage_window(st, &k, &stride, &pad);
    while (ss->produced[i] < od.h) {
        const int32_t oy = ss->produced[i];
        const int32_t iy0 = oy * stride - pad;
        const int32_t hi = iy0 + k - 1 < in.h - 1 ? iy0 + k - 1 : in.h - 1;
        if (hi >= ss->received[i]) {
            return RP_OK; /* waits for more input rows */
        }
        for (int32_t ky = 0; ky < k; ky++) {
            const int32_t iy = iy0 + ky;
            rows[ky] = (iy >= 0 && iy < in.h) ? ring_slot(ss, i, iy) : NULL;
        }
        rp_status status = RP_OK;
        int8_t *dst = st->kind == RP_STAGE_HEAD ? NULL : output_target(ss, i, oy);
        switch (st->kind) {
        case RP_STAGE_CONV:
            status = dst != NULL ? rp_conv_s8_row(st->conv, rows, dst) : RP_OK;
            break;
        case RP_STAGE_DWCONV:
            status = dst != NULL ? rp_dwconv_s8_row(st->conv, rows, dst) : RP_OK;
            break;
        case RP_STAGE_RNNPOOL:
            status = dst != NULL ? rp_rnnpool_s8_row_at(st->rnnpool, ss->rnn_buf, ss->rnn_size,
                                                        rows, oy, dst)
                                 : RP_OK;
            break;
        case RP_STAGE_L2NORM: {
            rp_l2norm_layer one_row = *st->l2norm;
            one_row.dims.h = 1;
            status = dst != NULL ? rp_l2norm_s8(&one_row, rows[0], dst) : RP_OK;
            break;
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
            break;
        default:
            status = RP_NO_IMPL;
            break;
        }
        if (status != RP_OK) {
            return status;
        }
        ss->produced[i]++;
        if (dst != NULL) {
            if (i == ss->s->output_stage) {
                for (int32_t x = od.w; x < od.w + ss->s->pad_right; x++) { /* replicate */
                    for (int32_t c = 0; c < od.c; c++) {
                        dst[(size_t)x * od.c + c] = dst[(size_t)(od.w - 1) * od.c + c];
                    }
                }
            }
            status = push_row(ss, i, oy, dst, (size_t)od.w * (size_t)od.c);
            if (status != RP_OK) {
                return status;
            }
        }
    }
    return RP_OK;
}

rp_status rp_stream_run(const rp_stream *s, void *buf, size_t size, rp_read_rows_fn read_rows,
                        void *user, rp_detect_ctx *detect, int8_t *out)
{
    stream_state ss;
    size_t loc_max, conf_max, rnn_size;
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
    (void)layout(s, ss.ring_rows, &loc_max, &conf_max, &rnn_size);
    int8_t *p = (int8_t *)buf;
    for (int32_t i = 0; i < s->num_stages; i++) {
        const rp_dims in = stage_in(&s->stages[i]);
        ss.ring[i] = p;
        ss.received[i] = 0;
        ss.produced[i] = 0;
        p += RP_ALIGN4((size_t)ss.ring_rows[i] * (size_t)in.w * (size_t)in.c);
    }
    ss.loc_row = p;
    ss.conf_row = p + loc_max;
    p += loc_max + conf_max;
    ss.rnn_buf = p;
    ss.rnn_size = rnn_size;
    const size_t cam_bytes = (size_t)s->image_w * (size_t)s->image_c;
    for (int32_t y = 0; y < s->image_h; y++) {
        int8_t *slot = ring_slot(&ss, cam_consumer, y);
        if (read_rows(user, (uint8_t *)slot, y, 1) != 0) {
            return RP_IO_ERROR;
        }
        for (size_t k = 0; k < cam_bytes; k++) {
            slot[k] = (int8_t)((uint8_t)slot[k] ^ 0x80u); /* pixel - 128 */
        }
        rp_status st = push_row(&ss, -1, y, slot, cam_bytes);
        if (st != RP_OK) {
            return st;
        }
    }
    for (int32_t i = 0; i < s->num_stages; i++) {
        if (ss.produced[i] != stage_out(&s->stages[i]).h) {
            return RP_ARG_ERROR; /* a stage whose input never completed (bad geometry) */
        }
    }
    const rp_dims od = stage_out(&s->stages[s->output_stage]);
    const size_t out_row = (size_t)(od.w + s->pad_right) * (size_t)od.c;
    for (int32_t y = od.h; y < od.h + s->pad_bottom; y++) { /* replicate the last row */
        for (size_t k = 0; k < out_row; k++) {
            out[(size_t)y * out_row + k] = out[(size_t)(od.h - 1) * out_row + k];
        }
    }
    return RP_OK;
}
