/*
 * rp_classify.c - classification output: Q15 softmax scores from a table, argmax of the logits.
 *
 * exp(s (q - q_max)) depends only on d = q_max - q in [0, 255], so the exporter tabulates it in
 * Q15 for the logits' scale s; the scores are then exact integer divisions (uint32: each e is at
 * most 32768 and the sum at most 2^31 for RP_CLASSIFY_MAX_CLASSES classes), and
 * mcu_export's numpy reference computes the same integers.
 */
#include "rp_internal.h"
#include "rp_nn.h"

rp_status rp_classify_s8(const rp_classify_layer *layer, const int8_t *logits, int16_t *scores,
                         int32_t *label)
{
    if (layer == NULL || logits == NULL || label == NULL || layer->num_classes < 1 ||
        layer->num_classes > RP_CLASSIFY_MAX_CLASSES) {
        return RP_ARG_ERROR;
    }
    const int32_t n = layer->num_classes;
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++) {
        if (logits[i] > logits[best]) { /* strict: the lowest index wins a tie */
            best = i;
        }
    }
    if (scores == NULL) {
        *label = best;
        return RP_OK;
    }
    const int32_t *table = layer->exp_q15;
    if (table == NULL || table[0] < 1 || table[0] > 32768) {
        return RP_ARG_ERROR;
    }
    const int32_t top = logits[best];
    uint32_t sum = 0;
    for (int32_t i = 0; i < n; i++) {
        const int32_t e = table[top - logits[i]];
        if (e < 0 || e > 32768) {
            return RP_ARG_ERROR;
        }
        sum += (uint32_t)e;
    }
    for (int32_t i = 0; i < n; i++) {
        const uint32_t e = (uint32_t)table[top - logits[i]];
        const uint32_t q = (e * 32768u + sum / 2u) / sum;
        scores[i] = (int16_t)(q > 32767u ? 32767u : q);
    }
    *label = best;
    return RP_OK;
}
