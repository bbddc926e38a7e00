"""mcu_export.parity: the classifier's float-vs-int8 top-1 agreement."""
import numpy as np

from mcu_export.parity import classification_parity


def test_top1_agreement_counts_argmax_matches():
    float_logits = [np.array([0.1, 0.9]), np.array([2.0, -1.0]), np.array([0.0, 0.5])]
    int8_logits = [np.array([-3, 5], np.int8), np.array([4, 9], np.int8),
                   np.array([-128, 127], np.int8)]
    stats = classification_parity(float_logits, int8_logits)
    assert stats == dict(images=3, top1_agreement=round(2 / 3, 4), disagreements=[1])
    assert classification_parity([], [])['top1_agreement'] is None
