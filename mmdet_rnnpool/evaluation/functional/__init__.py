from .wider_ground_truth import (WIDER_SETTINGS, WiderGTImage, load_wider_ground_truth,
                                 save_wider_ground_truth)

__all__ = [
    'WIDER_SETTINGS', 'WiderGTImage', 'load_wider_ground_truth', 'save_wider_ground_truth'
]
