/*
 * rp_mbconv.c - MobileNetV2 inverted residual block, computed row by row.
 *
 * The expanded map never exists whole: expanded input rows live in a ring of kernel_h rows
 * (row iy in slot iy % kernel_h), so the block costs input + output + a few rows, as the
 * paper's layer-by-layer convention assumes. Bit-exact with running the four layers one after
 * the other on whole maps. The row pieces (ring slots, one output row) are shared with the
 * streamed front-end (rp_stream.c), which runs whole blocks on row rings.
 */
#include "rp_internal.h"
#include "rp_nn.h"

size_t rp_mbconv_ring_bytes(const rp_mbconv_layer *l)
{
    const rp_conv_layer *dw = l->depthwise;
    return l->expand != NULL ? RP_ALIGN4((size_t)dw->kernel_h * dw->in.w * dw->in.c) : 0;
}

size_t rp_mbconv_pixel_bytes(const rp_mbconv_layer *l, int32_t n)
{
    size_t size = RP_ALIGN4((size_t)n * l->depthwise->out.c);
    if (l->residual != NULL) {
        size += RP_ALIGN4((size_t)n * l->project->out.c);
    }
    return size;
}

int rp_mbconv_valid(const rp_mbconv_layer *l)
{
    if (l == NULL || l->depthwise == NULL || l->project == NULL) {
        return 0;
    }
    const rp_conv_layer *dw = l->depthwise;
    const rp_conv_layer *pj = l->project;
    const rp_dims in = l->expand != NULL ? l->expand->in : dw->in;
    return dw->kernel_h <= RP_MAX_KERNEL && pj->in.c == dw->out.c &&
           (l->expand == NULL || l->expand->out.c == dw->in.c) &&
           (l->residual == NULL || (dw->stride_h == 1 && dw->stride_w == 1 && in.c == pj->out.c &&
                                    in.w == pj->out.w && in.h == dw->out.h));
}

int8_t *rp_mbconv_ring_row(const rp_mbconv_layer *l, int8_t *ring, int32_t iy)
{
    const rp_conv_layer *dw = l->depthwise;
    return ring + (size_t)(iy % dw->kernel_h) * (size_t)dw->in.w * (size_t)dw->in.c;
}

/* Output pixels [ox0, ox0 + n) of a block row from its depthwise pixels: projection, then (with
 * a residual) the add of input row res_row's pixels. in[oy] and out[oy] have the same layout:
 * element-wise, also in place. */
static rp_status project_pixels(const rp_mbconv_layer *l, const int8_t *dw_px, int8_t *proj_px,
                                const int8_t *res_row, int32_t ox0, int32_t n, int8_t *out_row)
{
    const rp_conv_layer *pj = l->project;
    const int32_t in_c = l->expand != NULL ? l->expand->in.c : l->depthwise->in.c;
    int8_t *dst = out_row + (size_t)ox0 * pj->out.c;
    rp_status st = rp_pwconv_s8_pixels(pj, dw_px, n, l->residual != NULL ? proj_px : dst);
    if (st == RP_OK && l->residual != NULL) {
        st = rp_add_s8(l->residual, res_row + (size_t)ox0 * in_c, proj_px, n * pj->out.c, dst);
    }
    return st;
}

rp_status rp_mbconv_s8_out_row(const rp_mbconv_layer *l, const int8_t *const *rows,
                               const int8_t *res_row, void *px, size_t px_size, int8_t *out_row)
{
    const rp_conv_layer *dw = l->depthwise;
    /* whole rows per pass when the scratch allows, else RP_MBCONV_CHUNK pixels (same results) */
    const int32_t chunk = px_size >= rp_mbconv_pixel_bytes(l, dw->out.w) ? dw->out.w
                                                                         : RP_MBCONV_CHUNK;
    if (px == NULL || px_size < rp_mbconv_pixel_bytes(l, chunk < dw->out.w ? chunk : dw->out.w) ||
        (l->residual != NULL && res_row == NULL)) {
        return RP_ARG_ERROR;
    }
    int8_t *dw_px = (int8_t *)px;
    int8_t *proj_px = dw_px + RP_ALIGN4((size_t)chunk * dw->out.c);
    for (int32_t ox0 = 0; ox0 < dw->out.w; ox0 += chunk) {
        const int32_t n = dw->out.w - ox0 < chunk ? dw->out.w - ox0 : chunk;
        rp_status st = rp_dwconv_s8_pixels(dw, rows, ox0, n, dw_px);
        if (st == RP_OK) {
            st = project_pixels(l, dw_px, proj_px, res_row, ox0, n, out_row);
        }
        if (st != RP_OK) {
            return st;
        }
    }
    return RP_OK;
}

size_t rp_mbconv_stream_ring_bytes(const rp_mbconv_layer *l)
{
    const rp_conv_layer *dw = l->depthwise;
    return l->expand != NULL ? RP_ALIGN4((size_t)(dw->kernel_h - 1) * dw->in.w * dw->in.c) : 0;
}

int8_t *rp_mbconv_stream_ring_row(const rp_mbconv_layer *l, int8_t *ring, int32_t iy)
{
    const rp_conv_layer *dw = l->depthwise;
    if (dw->kernel_h < 2) {
        return NULL;
    }
    return ring + (size_t)(iy % (dw->kernel_h - 1)) * (size_t)dw->in.w * (size_t)dw->in.c;
}

/* Expanded columns a pass of n output pixels reads: (n - 1) * stride + kernel, at most a row. */
static int32_t fused_columns(const rp_conv_layer *dw, int32_t n)
{
    const int32_t cols = (n - 1) * dw->stride_w + dw->kernel_w;
    return cols < dw->in.w ? cols : dw->in.w;
}

size_t rp_mbconv_fused_pixel_bytes(const rp_mbconv_layer *l, int32_t n)
{
    const rp_conv_layer *dw = l->depthwise;
    return RP_ALIGN4((size_t)fused_columns(dw, n) * dw->in.c) + rp_mbconv_pixel_bytes(l, n);
}

static int32_t clamp_col(int32_t x, int32_t hi)
{
    return x < 0 ? 0 : (x > hi ? hi : x);
}

rp_status rp_mbconv_s8_out_row_fused(const rp_mbconv_layer *l, const int8_t *const *rows,
                                     const int8_t *in_row, int8_t *slot, const int8_t *res_row,
                                     void *px, size_t px_size, int8_t *out_row)
{
    const rp_conv_layer *dw = l->depthwise;
    const int32_t kh = dw->kernel_h, ec = dw->in.c, ow = dw->out.w;
    const int32_t chunk = ow < RP_MBCONV_CHUNK ? ow : RP_MBCONV_CHUNK;
    if (l->expand == NULL || in_row == NULL || px == NULL || (kh > 1 && slot == NULL) ||
        px_size < rp_mbconv_fused_pixel_bytes(l, chunk) ||
        (l->residual != NULL && res_row == NULL)) {
        return RP_ARG_ERROR;
    }
    const int32_t in_c = l->expand->in.c;
    /* ahead = expanded columns [done, ahead_end) of the new row not yet written into slot */
    int8_t *ahead = (int8_t *)px;
    int8_t *dw_px = ahead + RP_ALIGN4((size_t)fused_columns(dw, chunk) * ec);
    int8_t *proj_px = dw_px + RP_ALIGN4((size_t)chunk * dw->out.c);
    const int8_t *win[RP_MAX_KERNEL];
    int32_t x0[RP_MAX_KERNEL];
    for (int32_t ky = 0; ky < kh - 1; ky++) {
        win[ky] = rows[ky];
        x0[ky] = 0;
    }
    int32_t done = 0, ahead_end = 0;
    for (int32_t ox0 = 0; ox0 < ow; ox0 += chunk) {
        const int32_t n = ow - ox0 < chunk ? ow - ox0 : chunk;
        const int32_t hi = clamp_col((ox0 + n - 1) * dw->stride_w - dw->pad_left + dw->kernel_w,
                                     dw->in.w);
        rp_status st = RP_OK;
        if (hi > ahead_end) {
            st = rp_pwconv_s8_pixels(l->expand, in_row + (size_t)ahead_end * in_c, hi - ahead_end,
                                     ahead + (size_t)(ahead_end - done) * ec);
            ahead_end = hi;
        }
        win[kh - 1] = ahead;
        x0[kh - 1] = done;
        if (st == RP_OK) {
            st = rp_dwconv_s8_pixels_at(dw, win, x0, ox0, n, dw_px);
        }
        if (st == RP_OK) {
            st = project_pixels(l, dw_px, proj_px, res_row, ox0, n, out_row);
        }
        if (st != RP_OK) {
            return st;
        }
        /* columns no later pass reads in the window's first row take the new row's values */
        const int32_t retire = ox0 + n >= ow
                                   ? ahead_end
                                   : clamp_col((ox0 + n) * dw->stride_w - dw->pad_left, ahead_end);
        if (retire > done) {
            const size_t moved = (size_t)(retire - done) * ec;
            if (slot != NULL) {
                memcpy(slot + (size_t)done * ec, ahead, moved);
            }
            memmove(ahead, ahead + moved, (size_t)(ahead_end - retire) * ec);
            done = retire;
        }
    }
    return RP_OK;
}

/* Scratch for passes of `chunk` output pixels: ring + depthwise pixels (+ projected pixels). */
static size_t chunk_bytes(const rp_mbconv_layer *l, int32_t chunk)
{
    return rp_mbconv_ring_bytes(l) + rp_mbconv_pixel_bytes(l, chunk);
}

size_t rp_mbconv_get_buffer_size(const rp_mbconv_layer *l)
{
    if (l == NULL || l->depthwise == NULL || l->project == NULL) {
        return 0;
    }
    return chunk_bytes(l, l->depthwise->out.w);
}

size_t rp_mbconv_get_min_buffer_size(const rp_mbconv_layer *l)
{
    if (l == NULL || l->depthwise == NULL || l->project == NULL) {
        return 0;
    }
    const int32_t w = l->depthwise->out.w;
    /* without an expansion the depthwise reads the input itself: keep whole rows, so that an
     * in-place output row is written only after its input rows have been read */
    return chunk_bytes(l, l->expand != NULL && w > RP_MBCONV_CHUNK ? RP_MBCONV_CHUNK : w);
}

rp_status rp_mbconv_s8(const rp_mbconv_layer *l, void *buf, size_t size, const int8_t *in,
                       int8_t *out)
{
    const int8_t *rows[RP_MAX_KERNEL];
    int32_t slot_row[RP_MAX_KERNEL];
    if (l == NULL || in == NULL || out == NULL || buf == NULL || l->depthwise == NULL ||
        l->project == NULL || size < rp_mbconv_get_min_buffer_size(l)) {
        return RP_ARG_ERROR;
    }
    if (!rp_mbconv_valid(l)) {
        return RP_ARG_ERROR;
    }
    const rp_conv_layer *dw = l->depthwise;
    const rp_conv_layer *pj = l->project;
    const rp_dims in_dims = l->expand != NULL ? l->expand->in : dw->in;
    int8_t *ring = (int8_t *)buf;
    void *px = ring + rp_mbconv_ring_bytes(l);
    const size_t px_size = size - rp_mbconv_ring_bytes(l);
    const size_t in_row_bytes = (size_t)in_dims.w * in_dims.c;
    const size_t out_row_bytes = (size_t)pj->out.w * pj->out.c;
    for (int32_t k = 0; k < dw->kernel_h; k++) {
        slot_row[k] = -1;
    }
    for (int32_t oy = 0; oy < dw->out.h; oy++) {
        for (int32_t ky = 0; ky < dw->kernel_h; ky++) {
            const int32_t iy = oy * dw->stride_h - dw->pad_top + ky;
            if (iy < 0 || iy >= in_dims.h) {
                rows[ky] = NULL;
            } else if (l->expand == NULL) {
                rows[ky] = in + (size_t)iy * in_row_bytes;
            } else {
                const int32_t slot = iy % dw->kernel_h;
                int8_t *dst = rp_mbconv_ring_row(l, ring, iy);
                if (slot_row[slot] != iy) {
                    rp_status st = rp_pwconv_s8_pixels(l->expand, in + (size_t)iy * in_row_bytes,
                                                       in_dims.w, dst);
                    if (st != RP_OK) {
                        return st;
                    }
                    slot_row[slot] = iy;
                }
                rows[ky] = dst;
            }
        }
        rp_status st = rp_mbconv_s8_out_row(l, rows, in + (size_t)oy * in_row_bytes, px, px_size,
                                            out + (size_t)oy * out_row_bytes);
        if (st != RP_OK) {
            return st;
        }
    }
    return RP_OK;
}
