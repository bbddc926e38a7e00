"""S3FD training augmentation and the test-time resize, as MMDetection transforms."""
from .data_anchor_sampling import DataAnchorSampling
from .image_enhance_distortion import ImageEnhanceDistortion
from .resize_to_area import ResizeToArea
from .to_gray import ToGray
from .window_crop import BaseWindowCrop
from .zoom_in_crop import ZoomInRandomCrop

__all__ = [
    'BaseWindowCrop', 'ZoomInRandomCrop', 'DataAnchorSampling', 'ResizeToArea', 'ToGray',
    'ImageEnhanceDistortion'
]
