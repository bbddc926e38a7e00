"""WIDER FACE in its official layout, SCUT-HEAD, the S3FD augmentation and the mini-dataset
builders."""
from .data_root import rebase_data_root
from .mini_wider import (MINI_WIDER_EVENTS, MiniWiderConfig, MiniWiderSummary,
                         build_mini_wider, wider_settings)
from .mini_scut_head import build_mini_scut_head
from .scut_head import SCUTHeadDataset
from .transforms import (BaseWindowCrop, DataAnchorSampling, ResizeToArea, S3FDMultiScaleAug,
                         ToGray, ZoomInRandomCrop)
from .wider_face import WIDERFaceOfficialDataset, read_image_size
from .wider_face_txt import (WIDER_ATTRIBUTES, WiderFaceRecord, format_wider_bbx_gt,
                             parse_wider_bbx_gt, parse_wider_filelist)

__all__ = [
    'WIDERFaceOfficialDataset', 'read_image_size', 'WIDER_ATTRIBUTES', 'WiderFaceRecord',
    'parse_wider_bbx_gt', 'parse_wider_filelist', 'format_wider_bbx_gt',
    'MINI_WIDER_EVENTS', 'MiniWiderConfig', 'MiniWiderSummary', 'build_mini_wider',
    'wider_settings', 'rebase_data_root', 'BaseWindowCrop', 'ZoomInRandomCrop',
    'DataAnchorSampling', 'ResizeToArea', 'ToGray', 'S3FDMultiScaleAug', 'SCUTHeadDataset',
    'build_mini_scut_head'
]
