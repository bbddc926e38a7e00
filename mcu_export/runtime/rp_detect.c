/*
 * rp_detect.c - SSD-style detection post-processing in integers.
 *
 * Decoding uses per-level tables the exporter computes from the head's quantisation, anchor
 * size and coder variances (centre offsets and half sizes in Q4 pixels, scores in Q15), so the
 * exp() / sigmoid() of the float decoder become table look-ups and every result is exact.
 * A box that is empty once clipped to the image (zero width or height) is dropped, as mmdet
 * does with the configs' min_bbox_size = 0.
 * Candidates are kept in a bounded list sorted by score (ties: lower level, then first decoded
 * first), then
 * greedy NMS keeps a box unless a kept box overlaps it with IoU > threshold.
 */
#include "rp_internal.h"
#include "rp_nn.h"

rp_status rp_detect_init(rp_detect_ctx *ctx, rp_detection *cand, int32_t cap, int32_t score_thr,
                         int32_t img_w, int32_t img_h)
{
    if (ctx == NULL || cand == NULL || cap <= 0 || img_w <= 0 || img_h <= 0 || img_w > 2047 ||
        img_h > 2047) {
        return RP_ARG_ERROR;
    }
    ctx->cand = cand;
    ctx->cap = cap;
    ctx->n = 0;
    ctx->score_thr = score_thr;
    ctx->img_w = img_w;
    ctx->img_h = img_h;
    return RP_OK;
}

/* Rank: higher score first, then lower level, then decoding order; so the list does not depend
 * on how the rows of different levels interleave (the streamed heads decode theirs together). */
static int ranks_before(const rp_detection *a, const rp_detection *b)
{
    return a->score > b->score || (a->score == b->score && a->level < b->level);
}

static void insert_candidate(rp_detect_ctx *ctx, const rp_detection *d)
{
    if (ctx->n == ctx->cap && !ranks_before(d, &ctx->cand[ctx->n - 1])) {
        return;
    }
    int32_t pos = ctx->n < ctx->cap ? ctx->n : ctx->cap - 1;
    while (pos > 0 && ranks_before(d, &ctx->cand[pos - 1])) {
        if (pos < ctx->cap) {
            ctx->cand[pos] = ctx->cand[pos - 1];
        }
        pos--;
    }
    ctx->cand[pos] = *d;
    if (ctx->n < ctx->cap) {
        ctx->n++;
    }
}

rp_status rp_detect_add_rows(rp_detect_ctx *ctx, const rp_detect_level *lv, int32_t level_index,
                             const int8_t *loc, const int8_t *conf, int32_t row0, int32_t nrows)
{
    if (ctx == NULL || lv == NULL || loc == NULL || conf == NULL || row0 < 0 || nrows < 0 ||
        row0 + nrows > lv->h || lv->num_logits < 2 || lv->fg_index < 0 ||
        lv->fg_index >= lv->num_logits) {
        return RP_ARG_ERROR;
    }
    const int32_t xmax = ctx->img_w * 16, ymax = ctx->img_h * 16;
    for (int32_t r = 0; r < nrows; r++) {
        const int32_t y = row0 + r;
        for (int32_t x = 0; x < lv->w; x++) {
            const size_t p = (size_t)r * lv->w + x;
            const int8_t *logit = conf + p * lv->num_logits;
            int32_t bg = -128;
            for (int32_t k = 0; k < lv->num_logits; k++) {
                if (k != lv->fg_index && logit[k] > bg) {
                    bg = logit[k];
                }
            }
            const int32_t score = lv->score[logit[lv->fg_index] - bg + 255];
            if (score < ctx->score_thr) {
                continue;
            }
            const int8_t *d = loc + p * 4;
            const int32_t cx = lv->anchor_x0 + x * lv->step_x + lv->ctr_x[d[0] + 128];
            const int32_t cy = lv->anchor_y0 + y * lv->step_y + lv->ctr_y[d[1] + 128];
            const int32_t hw = lv->half_w[d[2] + 128];
            const int32_t hh = lv->half_h[d[3] + 128];
            rp_detection det;
            det.x1 = (int16_t)rp_clamp(cx - hw, 0, xmax);
            det.y1 = (int16_t)rp_clamp(cy - hh, 0, ymax);
            det.x2 = (int16_t)rp_clamp(cx + hw, 0, xmax);
            det.y2 = (int16_t)rp_clamp(cy + hh, 0, ymax);
            if (det.x2 <= det.x1 || det.y2 <= det.y1) {
                continue; /* empty after clipping to the image (mmdet's min_bbox_size = 0) */
            }
            det.score = (int16_t)score;
            det.label = 0;
            det.level = (int8_t)level_index;
            insert_candidate(ctx, &det);
        }
    }
    return RP_OK;
}

static int overlaps(const rp_detection *a, const rp_detection *b, int32_t iou_thr)
{
    const int32_t iw = (a->x2 < b->x2 ? a->x2 : b->x2) - (a->x1 > b->x1 ? a->x1 : b->x1);
    const int32_t ih = (a->y2 < b->y2 ? a->y2 : b->y2) - (a->y1 > b->y1 ? a->y1 : b->y1);
    if (iw <= 0 || ih <= 0) {
        return 0;
    }
    const int64_t inter = (int64_t)iw * ih;
    const int64_t area_a = (int64_t)(a->x2 - a->x1) * (a->y2 - a->y1);
    const int64_t area_b = (int64_t)(b->x2 - b->x1) * (b->y2 - b->y1);
    const int64_t uni = area_a + area_b - inter;
    return uni > 0 && inter * 32768 > (int64_t)iou_thr * uni;
}

rp_status rp_detect_finish(rp_detect_ctx *ctx, int32_t iou_thr, rp_detection *out, int32_t max_out,
                           int32_t *n_out)
{
    if (ctx == NULL || out == NULL || n_out == NULL || max_out < 0) {
        return RP_ARG_ERROR;
    }
    int32_t kept = 0;
    for (int32_t i = 0; i < ctx->n && kept < max_out; i++) {
        int suppressed = 0;
        for (int32_t k = 0; k < kept && !suppressed; k++) {
            suppressed = overlaps(&out[k], &ctx->cand[i], iou_thr);
        }
        if (!suppressed) {
            out[kept++] = ctx->cand[i];
        }
    }
    *n_out = kept;
    return RP_OK;
}
