/*
 * rp_nn.h - public API of the RNNPool Cortex-M4 runtime (mcu_export).
 *
 * C99, fixed-width types, no malloc, no stdio. Every function returns rp_status (RP_OK = 0).
 * Kernels that need scratch memory take a caller-owned buffer, have a *_get_buffer_size()
 * twin, and return RP_ARG_ERROR for a NULL or too-small buffer. Maps are int8 HWC.
 * The bit-exact specification of every kernel is mcu_export/reference.py.
 */
#ifndef RP_NN_H
#define RP_NN_H

#include "rp_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Regular convolution, one output row.
 * @param[in]  layer   Convolution (weights [C_OUT, KH, KW, C_IN]).
 * @param[in]  rows    layer->kernel_h pointers to input rows [W_IN, C_IN]; NULL = padding row.
 * @param[out] out_row Output row [W_OUT, C_OUT].
 * @return RP_OK, RP_ARG_ERROR (NULL argument, kernel larger than RP_MAX_KERNEL).
 */
rp_status rp_conv_s8_row(const rp_conv_layer *layer, const int8_t *const *rows, int8_t *out_row);

/**
 * @brief Regular convolution of a whole map.
 * @param[in]  layer Convolution.
 * @param[in]  in    Input [H_IN, W_IN, C_IN].
 * @param[out] out   Output [H_OUT, W_OUT, C_OUT].
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_conv_s8(const rp_conv_layer *layer, const int8_t *in, int8_t *out);

/**
 * @brief Depthwise convolution (channel multiplier 1), one output row.
 * @param[in]  layer   Convolution (weights [KH, KW, C]).
 * @param[in]  rows    layer->kernel_h input row pointers; NULL = padding row.
 * @param[out] out_row Output row [W_OUT, C].
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_dwconv_s8_row(const rp_conv_layer *layer, const int8_t *const *rows, int8_t *out_row);

/** @brief Depthwise convolution of a whole map. @return RP_OK, RP_ARG_ERROR. */
rp_status rp_dwconv_s8(const rp_conv_layer *layer, const int8_t *in, int8_t *out);

/**
 * @brief 1x1 convolution, stride 1, no padding (weights [C_OUT, C_IN]), whole map.
 * @return RP_OK, RP_ARG_ERROR (NULL argument or not a 1x1/stride-1/unpadded layer).
 */
rp_status rp_pwconv_s8(const rp_conv_layer *layer, const int8_t *in, int8_t *out);

/**
 * @brief Element-wise add with requantisation: out = clamp(q(a) + q(b)).
 * @param[in]  layer Add parameters.
 * @param[in]  a, b  Inputs [n].
 * @param[in]  n     Number of elements.
 * @param[out] out   Output [n] (may alias a or b).
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_add_s8(const rp_add_layer *layer, const int8_t *a, const int8_t *b, int32_t n,
                    int8_t *out);

/**
 * @brief L2 normalisation over channels with a per-channel scale, integer arithmetic.
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_l2norm_s8(const rp_l2norm_layer *layer, const int8_t *in, int8_t *out);

/** @brief Scratch bytes rp_mbconv_s8() needs to work a whole output row at a time. */
size_t rp_mbconv_get_buffer_size(const rp_mbconv_layer *layer);

/** Output pixels per pass of rp_mbconv_s8() when it gets less than the whole-row scratch. */
#define RP_MBCONV_CHUNK 8

/** @brief Smallest scratch rp_mbconv_s8() accepts: with an expansion, RP_MBCONV_CHUNK output
 *  pixels per pass instead of a whole row (same results); otherwise the whole-row size. */
size_t rp_mbconv_get_min_buffer_size(const rp_mbconv_layer *layer);

/**
 * @brief Inverted residual block computed row by row; only kernel_h expanded rows exist.
 * @param[in]  layer Block.
 * @param[in]  buf   Scratch of at least rp_mbconv_get_min_buffer_size() bytes, 4-byte aligned
 *                   (rp_mbconv_get_buffer_size() or more: whole rows per pass).
 * @param[in]  size  Its size in bytes.
 * @param[in]  in    Input map.
 * @param[out] out   Output map: must not overlap in, except out == in where the planner's
 *                   in-place rule (mcu_export.planner.mbconv_in_place_ok) holds.
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_mbconv_s8(const rp_mbconv_layer *layer, void *buf, size_t size, const int8_t *in,
                       int8_t *out);

/**
 * @brief Scratch bytes of rp_rnnpool_s8_patch() / _row() / _row_at() / rp_rnnpool_s8(); with
 *        layer->row_cache set, rp_rnnpool_get_min_buffer_size() + out.w * (patch_h - stride_h) *
 *        rnn1.hidden_size int16 row summaries, which _row_at() keeps from one patch row to the
 *        next (the rows two vertically overlapping patches share are not recomputed); without
 *        it, the minimum buffer.
 */
size_t rp_rnnpool_get_buffer_size(const rp_rnnpool_layer *layer);

/** @brief Scratch bytes without the row cache (every kernel works with it, recomputing). */
size_t rp_rnnpool_get_min_buffer_size(const rp_rnnpool_layer *layer);

#ifdef RP_DEBUG_PATHS
/**
 * @brief Debug builds only (-DRP_DEBUG_PATHS): the code paths the last RNNPool call planned for
 *        RNN1 ([0]) and RNN2 ([1]), so that tests learn from the C which path a case exercised
 *        instead of re-deriving the C's decision. Flags are 0 or 1.
 */
typedef struct {
    int32_t fast_gates; /* branch-free gates (U rows fit the 32-bit requantisation, small biases) */
    int32_t w_fast;     /* W . x requantised on the 32-bit path */
    int32_t pairs;      /* DSP: fast quant gates two units at a time */
    int32_t tables;     /* sigmoid / tanh tables */
} rp_rnnpool_cell_path;
extern rp_rnnpool_cell_path rp_rnnpool_last_paths[2];
#endif

/**
 * @brief RNNPool (FastGRNN, fixed point) over one patch.
 * @param[in]  layer RNNPool layer.
 * @param[in]  buf   Scratch of rp_rnnpool_get_min_buffer_size() bytes or more, 4-byte aligned.
 * @param[in]  size  Its size in bytes.
 * @param[in]  rows  layer->patch_h pointers to input rows [W_IN, C_IN].
 * @param[in]  col0  First column of the patch.
 * @param[out] out   4 * rnn2.hidden_size int8 values:
 *                   [rows forward, rows backward, columns forward, columns backward].
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_rnnpool_s8_patch(const rp_rnnpool_layer *layer, void *buf, size_t size,
                              const int8_t *const *rows, int32_t col0, int8_t *out);

/** @brief RNNPool over every patch of one output row (no row cache: the buffer holds no
 *         state between calls). @return RP_OK, RP_ARG_ERROR. */
rp_status rp_rnnpool_s8_row(const rp_rnnpool_layer *layer, void *buf, size_t size,
                            const int8_t *const *rows, int8_t *out_row);

/**
 * @brief RNNPool over every patch of output row py, with the row cache.
 * @param[in]     layer   RNNPool layer.
 * @param[in,out] buf     Scratch, 4-byte aligned. With rp_rnnpool_get_buffer_size() bytes it
 *                        keeps the row summaries this row shares with row py + 1: a call for
 *                        py reuses them when the previous call on the same buffer and layer
 *                        was for py - 1 and nothing wrote the buffer in between (py = 0 starts
 *                        afresh). With less (at least rp_rnnpool_get_min_buffer_size()) it
 *                        recomputes them, as rp_rnnpool_s8_row(). The outputs are the same.
 * @param[in]     size    Its size in bytes.
 * @param[in]     rows    layer->patch_h pointers to input rows py * stride_h + 0 .. patch_h - 1.
 * @param[in]     py      Output row index (>= 0).
 * @param[out]    out_row out.w * out.c int8 values.
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_rnnpool_s8_row_at(const rp_rnnpool_layer *layer, void *buf, size_t size,
                               const int8_t *const *rows, int32_t py, int8_t *out_row);

/** @brief RNNPool over a whole map. @return RP_OK, RP_ARG_ERROR. */
rp_status rp_rnnpool_s8(const rp_rnnpool_layer *layer, void *buf, size_t size, const int8_t *in,
                        int8_t *out);

/*
 * Last-layer RNNPool (the paper's RNNPool over the whole last map as one patch), fed row by
 * row as the map is produced, never holding it: RNN1 runs over each row as it arrives (its
 * summary kept), the column RNN1s advance one step per row (their int16 states kept, in.w x h1),
 * and rp_rnnpool_last_s8_end() runs RNN2 over the row and column summaries in both directions.
 * The layer is an rp_rnnpool_layer with patch = stride = (in.h, in.w), out = {1, 1, 4 * h2},
 * row_cache 0 and its plan; the output equals rp_rnnpool_s8() on that layer (same order
 * [rows fwd, rows bwd, columns fwd, columns bwd], same requantisation). The state lives in the
 * caller's buffer between the calls.
 */

/** Largest hidden size / channel count of the last-layer kernel: keeps W . x (in.c int8 x 9-bit
 *  inputs, times 2^6) and U . h (hidden int8 x int16) inside int32. */
#define RP_RNNPOOL_LAST_MAX_HIDDEN 256
#define RP_RNNPOOL_LAST_MAX_CHANNELS 1024

/** @brief Buffer bytes of the rp_rnnpool_last_s8* calls (state + scratch); 0 if invalid. */
size_t rp_rnnpool_last_get_buffer_size(const rp_rnnpool_layer *layer);

/** @brief Starts a map: the next row expected is 0. @param buf 4-byte aligned,
 *  rp_rnnpool_last_get_buffer_size() bytes or more. @return RP_OK, RP_ARG_ERROR. */
rp_status rp_rnnpool_last_s8_begin(const rp_rnnpool_layer *layer, void *buf, size_t size);

/** @brief Consumes row y (in.w * in.c int8 values) of the map; rows come in order 0 .. in.h - 1
 *  on the buffer of rp_rnnpool_last_s8_begin(). @return RP_OK, RP_ARG_ERROR (out of order,
 *  not begun, short or misaligned buffer, invalid layer). */
rp_status rp_rnnpool_last_s8_row(const rp_rnnpool_layer *layer, void *buf, size_t size,
                                 int32_t y, const int8_t *row);

/** @brief After the last row: writes the 4 * rnn2.hidden_size int8 outputs and ends the map.
 *  @return RP_OK, RP_ARG_ERROR (rows missing). */
rp_status rp_rnnpool_last_s8_end(const rp_rnnpool_layer *layer, void *buf, size_t size,
                                 int8_t *out);

/** @brief The three calls over a whole map [in.h, in.w, in.c]. @return RP_OK, RP_ARG_ERROR. */
rp_status rp_rnnpool_last_s8(const rp_rnnpool_layer *layer, void *buf, size_t size,
                             const int8_t *in, int8_t *out);

/** @brief Scratch bytes rp_stream_run() needs: every stage's input-row ring (plus, for an
 *  inverted residual block with an expansion, its kernel_h expanded rows), one row of head
 *  outputs, the RNNPool scratch and RP_MBCONV_CHUNK-pixel block passes; 0 if invalid. */
size_t rp_stream_get_buffer_size(const rp_stream *stream);

/**
 * @brief Runs the streamed front-end: pulls image rows through read_rows (one per call, in
 *        order), pushes each through the stage DAG (convolutions, RNNPool, L2Norm, inverted
 *        residual blocks, head sinks), writes the output stage's map to out and decodes head
 *        stages into detect; the image and the streamed maps are never whole in RAM. Every
 *        stage computes exactly what its whole-map kernel computes.
 * @param[in]  stream    Front-end description.
 * @param[in]  buf       Scratch of rp_stream_get_buffer_size() bytes, 4-byte aligned.
 * @param[in]  size      Its size in bytes.
 * @param[in]  read_rows Row reader.
 * @param[in]  user      Passed to read_rows.
 * @param[in,out] detect Candidate list for head stages (NULL if there are none).
 * @param[out] out       [H_OUT, W_OUT, C_OUT] (+ pad_bottom / pad_right if the output stage is
 *                       the padded one).
 * @return RP_OK, RP_ARG_ERROR, RP_NO_IMPL (more than RP_MAX_STAGES stages), RP_IO_ERROR.
 */
rp_status rp_stream_run(const rp_stream *stream, void *buf, size_t size, rp_read_rows_fn read_rows,
                        void *user, rp_detect_ctx *detect, int8_t *out);

/**
 * @brief Starts detection post-processing with caller-owned candidate storage.
 * @param[out] ctx       Context.
 * @param[in]  cand      Candidate storage [cap].
 * @param[in]  cap       Bounded candidate list size (pre-NMS top-K).
 * @param[in]  score_thr Q15 score threshold.
 * @param[in]  img_w, img_h Image size in pixels (boxes are clipped to it, at most 2047).
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_detect_init(rp_detect_ctx *ctx, rp_detection *cand, int32_t cap, int32_t score_thr,
                         int32_t img_w, int32_t img_h);

/**
 * @brief Decodes rows [row0, row0 + nrows) of one level's head maps into the candidate list.
 * @param[in] loc  [nrows, W, 4] box deltas (dx, dy, dw, dh).
 * @param[in] conf [nrows, W, num_logits] logits.
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_detect_add_rows(rp_detect_ctx *ctx, const rp_detect_level *level, int32_t level_index,
                             const int8_t *loc, const int8_t *conf, int32_t row0, int32_t nrows);

/**
 * @brief Greedy NMS over the candidates (IoU > iou_thr suppresses) and top-K output.
 * @param[in]  iou_thr Q15 IoU threshold.
 * @param[out] out     Detections [max_out], best first.
 * @param[out] n_out   Number written.
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_detect_finish(rp_detect_ctx *ctx, int32_t iou_thr, rp_detection *out, int32_t max_out,
                           int32_t *n_out);

/* ---- Classifier ops (issue 13, clsops): rp_gap.c, rp_fc.c, rp_classify.c ---- */

/** @brief Bytes of the running sums of a streamed GAP (4 * in.c); 0 for an invalid layer. */
size_t rp_gap_get_sums_size(const rp_gap_layer *layer);

/**
 * @brief Starts a streamed GAP: zeroes the in.c int32 sums.
 * @param[out] sums [in.c] caller-owned running sums (rp_gap_get_sums_size bytes).
 * @return RP_OK, RP_ARG_ERROR (NULL argument, invalid layer).
 */
rp_status rp_gap_s8_begin(const rp_gap_layer *layer, int32_t *sums);

/**
 * @brief Adds nrows consecutive input rows [nrows, in.w, in.c] to the running sums; nothing
 *        else is kept, so a streamed map never exists whole. Rows may come in any grouping.
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_gap_s8_add_rows(const rp_gap_layer *layer, int32_t *sums, const int8_t *rows,
                             int32_t nrows);

/** @brief rp_gap_s8_add_rows for one row [in.w, in.c]. @return RP_OK, RP_ARG_ERROR. */
rp_status rp_gap_s8_add_row(const rp_gap_layer *layer, int32_t *sums, const int8_t *row);

/**
 * @brief Ends a streamed GAP once all in.h rows were added: the mean, requantised to int8.
 * @param[out] out [in.c] (the 1 x 1 x in.c output map).
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_gap_s8_finish(const rp_gap_layer *layer, const int32_t *sums, int8_t *out);

/**
 * @brief GAP of a whole map [in.h, in.w, in.c] -> [in.c], four channels at a time in registers
 *        (no scratch); the same integers as begin + add_rows + finish.
 * @return RP_OK, RP_ARG_ERROR.
 */
rp_status rp_gap_s8(const rp_gap_layer *layer, const int8_t *in, int8_t *out);

/**
 * @brief Fully connected layer (no scratch).
 * @param[in]  in  [in_features] int8.
 * @param[out] out [out_features] int8 (must not alias in).
 * @return RP_OK, RP_ARG_ERROR (NULL argument, sizes out of range).
 */
rp_status rp_fc_s8(const rp_fc_layer *layer, const int8_t *in, int8_t *out);

/**
 * @brief Classification output: softmax scores (Q15, int16) and the argmax of the logits.
 * @param[in]  logits [num_classes] int8.
 * @param[out] scores [num_classes] Q15 scores, or NULL for the label only.
 * @param[out] label  Index of the largest logit (the lowest such index on ties).
 * @return RP_OK, RP_ARG_ERROR (NULL argument, bad table or class count).
 */
rp_status rp_classify_s8(const rp_classify_layer *layer, const int8_t *logits, int16_t *scores,
                         int32_t *label);

#ifdef __cplusplus
}
#endif

#endif /* RP_NN_H */
