/*
 * rp_types.h - types shared by the RNNPool Cortex-M4 runtime (mcu_export).
 *
 * Conventions (identical in mcu_export/reference.py, which is the bit-exact specification):
 *  - Activations are int8, HWC (row-major, channels last), per-tensor asymmetric:
 *    real = scale * (q - zero_point).
 *  - Weights are int8, per-output-channel symmetric; biases are int32 in units of
 *    (input_scale * weight_scale[c]).
 *  - Requantisation: out = (acc * multiplier + 2^(rshift-1)) >> rshift (64-bit product,
 *    arithmetic shift, i.e. round half up), with multiplier in [2^30, 2^31) and
 *    rshift in [1, 62]; see rp_requantize() in rp_internal.h.
 */
#ifndef RP_TYPES_H
#define RP_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status of every runtime call; 0 is success. */
typedef enum {
    RP_OK = 0,          /**< Success. */
    RP_ARG_ERROR = -1,  /**< A NULL pointer, a too-small buffer or inconsistent dimensions. */
    RP_NO_IMPL = -2,    /**< A parameter combination this runtime does not implement. */
    RP_IO_ERROR = -3    /**< The row-reader callback reported a failure. */
} rp_status;

/** Largest kernel height/width any kernel accepts (row-pointer arrays live on the stack). */
#define RP_MAX_KERNEL 16
/** Largest hidden size of a FastGRNN cell. */
#define RP_MAX_HIDDEN 64

/** Feature-map dimensions (one image, HWC). */
typedef struct {
    int32_t h; /**< Rows. */
    int32_t w; /**< Columns. */
    int32_t c; /**< Channels. */
} rp_dims;

/** Per-output-channel requantisation (one multiplier and right shift per channel). */
typedef struct {
    const int32_t *multiplier; /**< [C_OUT], each in [2^30, 2^31) (or 0). */
    const int8_t *rshift;      /**< [C_OUT], each in [1, 62]. */
} rp_quant;

/**
 * A convolution (regular or depthwise) with everything it needs. Weights are
 * [C_OUT, KH, KW, C_IN] for a regular convolution and [KH, KW, C] for a depthwise one.
 */
typedef struct {
    rp_dims in;                 /**< Input map. */
    rp_dims out;                /**< Output map. */
    int16_t kernel_h, kernel_w; /**< Kernel size. */
    int16_t stride_h, stride_w; /**< Strides. */
    int16_t pad_top, pad_left;  /**< Leading padding; trailing padding follows from out dims. */
    int32_t input_offset;       /**< -input zero point, in [-127, 128]. */
    int32_t output_offset;      /**< Output zero point, in [-128, 127]. */
    int32_t act_min, act_max;   /**< Output clamp in the quantised domain (fused ReLU/ReLU6). */
    const int8_t *pad_values;   /**< [C_IN] value of a padded input, or NULL for the zero point. */
    const int8_t *weights;      /**< Filter, layout above. */
    const int32_t *bias;        /**< [C_OUT] or NULL. */
    rp_quant quant;             /**< Per-output-channel requantisation. */
    /** [C_OUT] bias + input_offset * (sum of the channel's weights), computed at export time
     *  (1x1 convolutions; NULL: computed on every call). */
    const int32_t *folded_bias;
} rp_conv_layer;

/** Element-wise add of two int8 maps of the same shape, with requantisation. */
typedef struct {
    int32_t input1_offset, input2_offset; /**< -zero points of the inputs. */
    int32_t left_shift;                   /**< Headroom shift applied before scaling (20). */
    int32_t input1_multiplier, input2_multiplier;
    int8_t input1_rshift, input2_rshift;
    int32_t output_multiplier;
    int8_t output_rshift;
    int32_t output_offset;
    int32_t act_min, act_max;
} rp_add_layer;

/** L2 normalisation over channels with a learned per-channel scale (integer; see rp_l2norm.c). */
typedef struct {
    rp_dims dims;
    int32_t input_offset;  /**< -input zero point. */
    int32_t output_offset; /**< Output zero point. */
    rp_quant quant;        /**< Per-channel: weight[c] / (out_scale * 2^22). */
} rp_l2norm_layer;

/**
 * MobileNetV2 inverted residual, computed row by row (expanded rows in a ring buffer):
 * optional 1x1 expand -> KxK depthwise -> 1x1 project -> optional residual add.
 */
typedef struct {
    const rp_conv_layer *expand;  /**< 1x1 conv or NULL (expansion ratio 1). */
    const rp_conv_layer *depthwise;
    const rp_conv_layer *project; /**< 1x1 conv. */
    const rp_add_layer *residual; /**< Residual add or NULL. */
} rp_mbconv_layer;

/** One FastGRNN cell in fixed point: hidden state int16 Q14 (1.0 = 16384). */
typedef struct {
    int16_t input_size;
    int16_t hidden_size;
    const int8_t *w;        /**< [H, I] per-row symmetric. */
    rp_quant w_quant;       /**< [H]: W accumulator -> Q14 (RNN1's inputs are (q - zp) * 64). */
    const int8_t *u;        /**< [H, H] per-row symmetric. */
    rp_quant u_quant;       /**< [H]: U accumulator (Q14 state) -> Q14. */
    const int32_t *bias_gate;   /**< [H] Q14. */
    const int32_t *bias_update; /**< [H] Q14. */
    int32_t zeta_q14;       /**< sigmoid(zeta) in Q14. */
    int32_t nu_q14;         /**< sigmoid(nu) in Q14. */
    /** NULL: quantSigmoid / quantTanh (piecewise linear, exact). Otherwise RP_ACT_TABLE_SIZE
     *  Q14 samples of sigmoid / tanh on [-8, 8] (step 1/32), interpolated linearly. */
    const int16_t *sigmoid_table;
    const int16_t *tanh_table;
} rp_fastgrnn_cell;

/** Entries of a FastGRNN sigmoid / tanh table (512 intervals over [-8, 8] + the end point). */
#define RP_ACT_TABLE_SIZE 513

/** 1 where the RNNPool kernel keeps its int16 vectors in pair layout (the DSP build, see
 *  rp_simd.h: same condition as RP_USE_DSP); the exported cell plans are emitted for it. */
#if defined(__ARM_FEATURE_DSP) && !defined(RP_NO_DSP)
#define RP_RNNPOOL_PAIR_LAYOUT 1
#else
#define RP_RNNPOOL_PAIR_LAYOUT 0
#endif

/** rp_fastgrnn_plan.flags. */
#define RP_CELL_FAST 1   /**< branch-free gates (U rows fit the 32-bit requantisation) */
#define RP_CELL_W_FAST 2 /**< W . x requantised on the 32-bit path */
#define RP_CELL_PAIRS 4  /**< quant gates two units at a time (used where RP_USE_DSP) */
#define RP_CELL_TABLES 8 /**< sigmoid / tanh tables */

/** A FastGRNN cell's plan, computed at export time (mcu_export/rnnpool_plan.py) and kept in
 *  flash: per-unit constants in the kernel's vector order (unit rp_pair_index(p, hidden) at
 *  position p) and, in pair layout, W and U unpacked to int16 pairs. */
typedef struct {
    int32_t flags;         /**< RP_CELL_* */
    const int32_t *cst;    /**< 4 x hidden: U multiplier, U shift (fast: - 33), tanh - gate bias
                                (fast), folded gate bias */
    const int32_t *w_mult; /**< hidden: W multiplier */
    const int32_t *w_sh;   /**< hidden: W shift (W_FAST: - 33) */
    const int32_t *wb;     /**< pair layout: W's 4 x 4 blocks as int16 pairs, or NULL (the
                                DSP path then splits the int8 words as it reads them: half
                                the flash, a few more instructions; the last-layer kernel
                                only, the patch kernels refuse it) */
    const int32_t *ub;     /**< pair layout: U's, the same (both or neither); else NULL */
} rp_fastgrnn_plan;

/** The plans of an RNNPool layer's two cells. */
typedef struct {
    int32_t pair_layout; /**< RP_RNNPOOL_PAIR_LAYOUT of the build the plan was emitted for */
    rp_fastgrnn_plan rnn1;
    rp_fastgrnn_plan rnn2;
} rp_rnnpool_plan;

/** RNNPool over one patch_h x patch_w x C patch: out = 4 * rnn2.hidden int8 values. */
typedef struct {
    int16_t patch_h, patch_w;
    int16_t stride_h, stride_w;
    rp_dims in;              /**< Input map (rows are supplied by pointer). */
    rp_dims out;             /**< Output map (out.c = 4 * rnn2.hidden). */
    int32_t input_offset;    /**< -input zero point. */
    rp_fastgrnn_cell rnn1;
    rp_fastgrnn_cell rnn2;
    int32_t output_multiplier; /**< Q14 state -> output scale. */
    int8_t output_rshift;
    int32_t output_offset;
    int32_t act_min, act_max;
    /** 1: rp_rnnpool_get_buffer_size() includes the row cache; 0: it is the minimum buffer
     *  (same results, ~25 % more RNN1 work). The exporter's planner chooses per budget. */
    int32_t row_cache;
    /** The cells' export-time plans (required; built with -DRP_RNNPOOL_SCRATCH_PLAN the kernel
     *  ignores it and rebuilds the plans in the scratch on every call, the old way). */
    const rp_rnnpool_plan *plan;
} rp_rnnpool_layer;

/** Row reader: writes rows [row0, row0 + nrows) of the image (W * C uint8 each) to dst. */
typedef int (*rp_read_rows_fn)(void *user, uint8_t *dst, int32_t row0, int32_t nrows);

/** Kinds of streamed front-end stages. */
typedef enum {
    RP_STAGE_CONV = 0,     /**< Regular convolution (rp_conv_layer). */
    RP_STAGE_DWCONV = 1,   /**< Depthwise convolution (rp_conv_layer). */
    RP_STAGE_RNNPOOL = 2,  /**< RNNPool (rp_rnnpool_layer). */
    RP_STAGE_L2NORM = 3,   /**< L2 normalisation, row by row (rp_l2norm_layer). */
    RP_STAGE_HEAD = 4,     /**< Detection head sink (rp_stream_head): no output map. */
    RP_STAGE_MBCONV = 5,   /**< Inverted residual block, row by row (rp_mbconv_layer). */
    /** Last-layer RNNPool sink (rp_rnnpool_layer, .rnnpool; rp_rnnpool_last_s8_row): consumes
     *  each input row as it arrives, writes its 1 x 1 x 4 h2 output after the last one. */
    RP_STAGE_RNNPOOL_LAST = 6,
    /** Global average pooling sink (rp_gap_layer, .gap; rp_gap_s8_add_row): adds each input
     *  row to its c int32 sums as it arrives, writes its 1 x 1 x c output after the last one.
     *  7, not 6: RP_STAGE_RNNPOOL_LAST (rnnpoolc) is 6. */
    RP_STAGE_GAP = 7
} rp_stage_kind;

/** Most stages a streamed front-end may have. */
#define RP_MAX_STAGES 16

struct rp_detect_level_s;

/** A detection head consumed row by row: two convolutions on the same input, then decoding. */
typedef struct {
    const void *loc;   /**< const rp_conv_layer *: box deltas (4 channels). */
    const void *conf;  /**< const rp_conv_layer *: logits; same kernel, stride, padding. */
    const struct rp_detect_level_s *level; /**< Decoding tables. */
    int32_t level_index;                   /**< Reported in rp_detection.level. */
} rp_stream_head;

/** One stage of the streamed front-end. */
typedef struct {
    rp_stage_kind kind;
    int32_t src;                     /**< Producer stage (earlier index), -1 = the camera. */
    const rp_conv_layer *conv;       /**< For RP_STAGE_CONV / RP_STAGE_DWCONV. */
    const rp_rnnpool_layer *rnnpool; /**< For RP_STAGE_RNNPOOL / RP_STAGE_RNNPOOL_LAST. */
    const rp_l2norm_layer *l2norm;   /**< For RP_STAGE_L2NORM. */
    const rp_stream_head *head;      /**< For RP_STAGE_HEAD. */
    const rp_mbconv_layer *mbconv;   /**< For RP_STAGE_MBCONV. */
    const struct rp_gap_layer_s *gap; /**< For RP_STAGE_GAP (rp_gap_layer, defined below). */
} rp_stream_stage;

/**
 * The streamed front-end, a small DAG run row by row as camera rows arrive: every stage keeps a
 * ring of the input rows it still needs and computes each output row as soon as it can; one
 * stage's output map is written whole, head stages decode as they go. One stage's output may
 * be replicate-padded (rows at the bottom, columns at the right); its consumers see the padded
 * map.
 */
typedef struct {
    int32_t image_h, image_w, image_c; /**< Camera image (uint8, HWC). */
    int32_t num_stages;
    const rp_stream_stage *stages;     /**< In topological order (src < own index). */
    int32_t output_stage;              /**< Stage whose output map is written whole. */
    int32_t pad_bottom, pad_right;     /**< Replicate padding of pad_stage's output. */
    int32_t pad_stage;                 /**< Stage whose output is padded (any stage but a head). */
} rp_stream;

/** One detection: box corners in 1/16 pixel (Q4), score in Q15, label, level. */
typedef struct {
    int16_t x1, y1, x2, y2;
    int16_t score;
    int8_t label;
    int8_t level;
} rp_detection;

/** Decoding tables of one detection level (one anchor per location). */
typedef struct rp_detect_level_s {
    int32_t h, w;             /**< Map size. */
    int32_t num_logits;       /**< Classifier channels per location. */
    int32_t fg_index;         /**< Foreground logit; the background is the max of the others. */
    int32_t anchor_x0, anchor_y0; /**< Q4 centre of the anchor at (0, 0). */
    int32_t step_x, step_y;   /**< Q4 anchor step. */
    const int32_t *ctr_x;     /**< [256] Q4 centre offset by dx code (q + 128). */
    const int32_t *ctr_y;     /**< [256] Q4 centre offset by dy code. */
    const int32_t *half_w;    /**< [256] Q4 half width by dw code. */
    const int32_t *half_h;    /**< [256] Q4 half height by dh code. */
    const int16_t *score;     /**< [511] Q15 score by (fg - max bg) + 255. */
} rp_detect_level;

/** Bounded candidate list for detection post-processing (caller-owned storage). */
typedef struct {
    rp_detection *cand; /**< Candidate storage, sorted by score (desc). */
    int32_t cap;        /**< Capacity of cand. */
    int32_t n;          /**< Candidates held. */
    int32_t score_thr;  /**< Q15 score threshold (kept if score >= thr). */
    int32_t img_w, img_h; /**< Image size (boxes are clipped to it). */
} rp_detect_ctx;


/* ---- Classifier ops (issue 13, clsops): global average pooling, fully connected, classify ---- */

/**
 * Global average pooling: out[c] = zp_out + requant(sum_{y,x} (q[y,x,c] - zp_in)), with one
 * multiplier / shift for s_in / (s_out * h * w). Accumulated row by row into c int32 sums, so
 * the input map never has to exist whole (rp_gap_s8_add_row); |sum| < 2^31 needs h * w <= 2^23.
 */
typedef struct rp_gap_layer_s {
    rp_dims in;                /**< Input map; the output is 1 x 1 x in.c. */
    int32_t input_offset;      /**< -input zero point, in [-127, 128]. */
    int32_t output_multiplier; /**< s_in / (s_out * h * w) as multiplier ... */
    int8_t output_rshift;      /**< ... and right shift (rp_requantize). */
    int32_t output_offset;     /**< Output zero point. */
    int32_t act_min, act_max;  /**< Output clamp. */
} rp_gap_layer;

/** Largest h * w of a GAP input (keeps every int32 sum exact). */
#define RP_GAP_MAX_PIXELS (1 << 23)

/** Fully connected layer: out[o] = clamp(zp_out + requant_o(bias[o] + sum_i w[o,i] (x[i] - zp_in))). */
typedef struct {
    int32_t in_features;     /**< Input length (int8), at most RP_FC_MAX_IN. */
    int32_t out_features;    /**< Output length (int8). */
    int32_t input_offset;    /**< -input zero point, in [-127, 128]. */
    int32_t output_offset;   /**< Output zero point. */
    int32_t act_min, act_max;/**< Output clamp (fused ReLU / ReLU6). */
    const int8_t *weights;   /**< [out_features, in_features], per-row symmetric. */
    const int32_t *bias;     /**< [out_features] or NULL. */
    rp_quant quant;          /**< [out_features] requantisation. */
} rp_fc_layer;

/** Longest FC input: 2^15 terms of |w (x - zp)| <= 128 * 255, plus |bias| <= 2^28, stay inside
 *  int32 (the exporter saturates biases to 2^28). */
#define RP_FC_MAX_IN 32768

/**
 * Classification output: int8 logits -> softmax scores in Q15 (int16, 1.0 saturates to 32767)
 * and the argmax of the logits (ties: lowest index). exp_q15[d] = round(32768 exp(-s d)) for
 * d = max logit - logit in [0, 255], s = the logits' scale (tabulated at export time);
 * score = (e * 32768 + sum / 2) / sum with e = exp_q15[max - q], sum = the e's sum (uint32).
 */
typedef struct {
    int32_t num_classes;     /**< Logits, in [1, RP_CLASSIFY_MAX_CLASSES]. */
    const int32_t *exp_q15;  /**< [RP_CLASSIFY_TABLE_SIZE], non-increasing, exp_q15[0] = 32768. */
} rp_classify_layer;

#define RP_CLASSIFY_TABLE_SIZE 256
/** Most classes: the sum of the e's (each <= 32768) must stay below 2^32. */
#define RP_CLASSIFY_MAX_CLASSES 65536

#ifdef __cplusplus
}
#endif

#endif /* RP_TYPES_H */
