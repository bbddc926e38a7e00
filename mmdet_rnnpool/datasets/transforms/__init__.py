"""S3FD training augmentation, the test-time resize and the multi-scale test views, as
MMDetection transforms."""
from .data_anchor_sampling import DataAnchorSampling
from .image_enhance_distortion import ImageEnhanceDistortion
from .resize_to_area import ResizeToArea
from .s3fd_multi_scale_aug import S3FDMultiScaleAug, TestView, s3fd_test_views
from .to_gray import ToGray
from .window_crop import BaseWindowCrop
from .zoom_in_crop import ZoomInRandomCrop

__all__ = [
    'BaseWindowCrop', 'ZoomInRandomCrop', 'DataAnchorSampling', 'ResizeToArea', 'ToGray',
    'S3FDMultiScaleAug', 'TestView', 's3fd_test_views',
    'ImageEnhanceDistortion'
]
