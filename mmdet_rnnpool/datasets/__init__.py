"""WIDER FACE in its official layout, SCUT-HEAD, the S3FD augmentation and the mini-dataset
builders; the classification data tools (ImageNet-10, Visual Wake Words), which need no
MMPretrain."""
from .classification_ann_file import read_ann_file, write_ann_file
from .coco_instances import CocoImage, CocoInstances, CocoObject, load_coco_instances
from .data_root import rebase_data_root
from .imagenet10 import (DEER_WNID, IMAGENET10_CLASSES, IMAGENET10_SYNSETS,
                         build_imagenet10)
from .mini_scut_head import build_mini_scut_head
from .mini_vww import MiniVWWConfig, build_mini_vww
from .mini_wider import (MINI_WIDER_EVENTS, MiniWiderConfig, MiniWiderSummary,
                         build_mini_wider, wider_settings)
from .scut_head import SCUTHeadDataset
from .transforms import (BaseWindowCrop, DataAnchorSampling, ImageEnhanceDistortion,
                         ResizeToArea, S3FDMultiScaleAug, ToGray, ZoomInRandomCrop)
from .visual_wake_words import (VWW_AREA_THRESHOLD, VWW_CLASSES, build_visual_wake_words,
                                read_minival_ids, vww_label)
from .wider_face import WIDERFaceOfficialDataset, read_image_size
from .wider_face_txt import (WIDER_ATTRIBUTES, WiderFaceRecord, format_wider_bbx_gt,
                             parse_wider_bbx_gt, parse_wider_filelist)

__all__ = [
    'WIDERFaceOfficialDataset', 'read_image_size', 'WIDER_ATTRIBUTES', 'WiderFaceRecord',
    'parse_wider_bbx_gt', 'parse_wider_filelist', 'format_wider_bbx_gt',
    'MINI_WIDER_EVENTS', 'MiniWiderConfig', 'MiniWiderSummary', 'build_mini_wider',
    'wider_settings', 'rebase_data_root', 'BaseWindowCrop', 'ZoomInRandomCrop',
    'DataAnchorSampling', 'ResizeToArea', 'ToGray', 'S3FDMultiScaleAug', 'SCUTHeadDataset',
    'build_mini_scut_head', 'read_ann_file', 'write_ann_file',
    'CocoImage', 'CocoInstances', 'CocoObject', 'load_coco_instances', 'DEER_WNID',
    'IMAGENET10_CLASSES', 'IMAGENET10_SYNSETS', 'build_imagenet10', 'MiniVWWConfig',
    'build_mini_vww', 'VWW_AREA_THRESHOLD', 'VWW_CLASSES', 'build_visual_wake_words',
    'read_minival_ids', 'vww_label', 'ImageEnhanceDistortion'
]
