/*
 * rp_mbconv.c - MobileNetV2 inverted residual block, computed row by row.
 *
 * The expanded map never exists whole: expanded input rows live in a ring of kernel_h rows
 * (row iy in slot iy % kernel_h), so the block costs input + output + a few rows, as the
 * paper's layer-by-layer convention assumes. Bit-exact with running the four layers one after
 * the other on whole maps.
 */
#include "rp_internal.h"
#include "rp_nn.h"

static size_t ring_bytes(const rp_mbconv_layer *l)
{
    const rp_conv_layer *dw = l->depthwise;
    return l->expand != NULL ? RP_ALIGN4((size_t)dw->kernel_h * dw->in.w * dw->in.c) : 0;
}

size_t rp_mbconv_get_buffer_size(const rp_mbconv_layer *l)
{
    if (l == NULL || l->depthwise == NULL || l->project == NULL) {
        return 0;
    }
    const rp_conv_layer *dw = l->depthwise;
    size_t size = ring_bytes(l) + RP_ALIGN4((size_t)dw->out.w * dw->out.c);
    if (l->residual != NULL) {
        size += RP_ALIGN4((size_t)l->project->out.w * l->project->out.c);
    }
    return size;
}

rp_status rp_mbconv_s8(const rp_mbconv_layer *l, void *buf, size_t size, const int8_t *in,
                       int8_t *out)
{
    const int8_t *rows[RP_MAX_KERNEL];
    int32_t slot_row[RP_MAX_KERNEL];
    if (l == NULL || in == NULL || out == NULL || buf == NULL || l->depthwise == NULL ||
        l->project == NULL || size < rp_mbconv_get_buffer_size(l)) {
        return RP_ARG_ERROR;
    }
    const rp_conv_layer *dw = l->depthwise;
    const rp_conv_layer *pj = l->project;
    const rp_dims in_dims = l->expand != NULL ? l->expand->in : dw->in;
    if (dw->kernel_h > RP_MAX_KERNEL || pj->in.c != dw->out.c ||
        (l->expand != NULL && l->expand->out.c != dw->in.c) ||
        (l->residual != NULL && (dw->stride_h != 1 || dw->stride_w != 1 || in_dims.c != pj->out.c ||
                                 in_dims.w != pj->out.w || in_dims.h != dw->out.h))) {
        return RP_ARG_ERROR;
    }
    int8_t *ring = (int8_t *)buf;
    int8_t *dw_row = ring + ring_bytes(l);
    int8_t *proj_row = dw_row + RP_ALIGN4((size_t)dw->out.w * dw->out.c);
    const size_t in_row_bytes = (size_t)in_dims.w * in_dims.c;
    const size_t exp_row_bytes = (size_t)dw->in.w * dw->in.c;
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
                int8_t *dst = ring + (size_t)slot * exp_row_bytes;
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
        rp_status st = rp_dwconv_s8_row(dw, rows, dw_row);
        int8_t *out_row = out + (size_t)oy * out_row_bytes;
        if (st == RP_OK) {
            st = rp_pwconv_s8_pixels(pj, dw_row, dw->out.w, l->residual != NULL ? proj_row : out_row);
        }
        if (st == RP_OK && l->residual != NULL) {
            st = rp_add_s8(l->residual, in + (size_t)oy * in_row_bytes, proj_row,
                           (int32_t)out_row_bytes, out_row);
        }
        if (st != RP_OK) {
            return st;
        }
    }
    return RP_OK;
}
