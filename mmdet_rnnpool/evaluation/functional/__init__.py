from .wider_face_eval import (WIDER_IOU_THRESHOLD, WIDER_NUM_THRESHOLDS, WiderPRCurve,
                              evaluate_wider, legacy_box_iou, normalize_wider_scores,
                              wider_thresholds, wider_voc_ap, xywh_to_corners)
from .wider_ground_truth import (WIDER_SETTINGS, WiderGTImage, load_wider_ground_truth,
                                 save_wider_ground_truth)
from .wider_pr_plot import plot_wider_pr_curves
from .wider_predictions import (image_key_from_path, read_wider_prediction_file,
                                read_wider_predictions, write_wider_predictions)

__all__ = [
    'WIDER_SETTINGS', 'WiderGTImage', 'load_wider_ground_truth', 'save_wider_ground_truth',
    'WIDER_IOU_THRESHOLD', 'WIDER_NUM_THRESHOLDS', 'WiderPRCurve', 'evaluate_wider',
    'legacy_box_iou', 'normalize_wider_scores', 'wider_thresholds', 'wider_voc_ap',
    'xywh_to_corners', 'plot_wider_pr_curves', 'image_key_from_path',
    'read_wider_prediction_file', 'read_wider_predictions', 'write_wider_predictions'
]
