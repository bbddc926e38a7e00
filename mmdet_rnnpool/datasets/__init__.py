"""WIDER FACE in its official layout, the S3FD augmentation and the mini-dataset builder."""
from .data_root import rebase_data_root
from .mini_wider import (MINI_WIDER_EVENTS, MiniWiderConfig, MiniWiderSummary,
                         build_mini_wider, wider_settings)
from .transforms import (BaseWindowCrop, DataAnchorSampling, ImageEnhanceDistortion,
                         ResizeToArea, ToGray, ZoomInRandomCrop)
from .wider_face import WIDERFaceOfficialDataset, read_image_size
from .wider_face_txt import (WIDER_ATTRIBUTES, WiderFaceRecord, format_wider_bbx_gt,
                             parse_wider_bbx_gt, parse_wider_filelist)

__all__ = [
    'WIDERFaceOfficialDataset', 'read_image_size', 'WIDER_ATTRIBUTES', 'WiderFaceRecord',
    'parse_wider_bbx_gt', 'parse_wider_filelist', 'format_wider_bbx_gt',
    'MINI_WIDER_EVENTS', 'MiniWiderConfig', 'MiniWiderSummary', 'build_mini_wider',
    'wider_settings', 'rebase_data_root', 'BaseWindowCrop', 'ZoomInRandomCrop',
    'DataAnchorSampling', 'ResizeToArea', 'ToGray', 'ImageEnhanceDistortion'
]
