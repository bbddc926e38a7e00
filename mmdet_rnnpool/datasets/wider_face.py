"""WIDER FACE read straight from the official release files (no conversion step).

Yang et al., "WIDER FACE: A Face Detection Benchmark", CVPR 2016,
http://shuoyang1213.me/WIDERFACE/.
"""
import os.path as osp
from typing import List, Optional

import numpy as np
from mmengine.fileio import get, get_local_path
from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS

from .wider_face_txt import (WIDER_ATTRIBUTES, WiderFaceRecord, parse_wider_bbx_gt,
                             parse_wider_filelist)

_ANN_FORMATS = ('auto', 'bbx_gt', 'filelist')
_INVALID_FACES = ('face', 'ignore')


def read_image_size(img_path: str, backend_args: Optional[dict] = None) -> tuple:
    """Return ``(height, width)`` of an image from its header (no full decode).

    Args:
        img_path (str): The image path or URI.
        backend_args (dict, optional): MMEngine file backend arguments. Defaults to None.
    """
    from io import BytesIO

    from PIL import Image
    try:
        if osp.isfile(img_path):
            with Image.open(img_path) as im:
                width, height = im.size
        else:
            with Image.open(BytesIO(get(img_path, backend_args=backend_args))) as im:
                width, height = im.size
    except FileNotFoundError:
        raise FileNotFoundError(f'WIDER FACE image not found: {img_path}') from None
    except OSError as e:
        raise ValueError(f'{img_path}: not a readable image ({e})') from None
    return height, width


@DATASETS.register_module()
class WIDERFaceOfficialDataset(BaseDetDataset):
    """WIDER FACE from the official ``wider_face_split/*.txt`` files and image folders.

    ``ann_file`` is ``wider_face_split/wider_face_{train,val}_bbx_gt.txt`` (boxes and the six
    attributes) or ``wider_face_split/wider_face_test_filelist.txt`` (names only, no boxes);
    ``data_prefix=dict(img='WIDER_{train,val,test}/images/')``. Every face becomes an
    instance ``dict(bbox=[x1, y1, x2, y2], bbox_label=0, ignore_flag, blur, expression,
    illumination, invalid, occlusion, pose)``. Faces with ``w <= 0`` or ``h <= 0``, or
    smaller than ``min_size``, get ``ignore_flag=1``: the detector neither learns from them
    nor is penalised for finding them, and they stay countable. Faces flagged ``invalid``
    are faces by default (``invalid_faces='face'``, as the release trains them: they are real,
    if heavily occluded or atypical, faces, and the official evaluation never counts a
    detection on them as a false positive); ``invalid_faces='ignore'`` ignores them.

    ``img_id`` is ``'<event>/<stem>'`` (e.g. ``'0--Parade/0_Parade_marchingband_1_465'``),
    the key the official evaluation uses. The text files carry no image sizes, so ``height``
    and ``width`` are read from the image header when a sample is first requested (or for
    all images at load time with ``lazy_size=False``).

    Args:
        min_size (float): Faces whose width or height is below this become ignored.
            Defaults to 0 (only degenerate boxes).
        invalid_faces (str): ``'face'`` or ``'ignore'``: what a face flagged invalid
            becomes. Defaults to 'face' (the release).
        ann_format (str): ``'bbx_gt'``, ``'filelist'`` or ``'auto'`` (a file whose name ends
            in ``filelist.txt`` is a file list). Defaults to 'auto'.
        lazy_size (bool): Read image sizes on first access rather than at load time.
            Defaults to True.
        **kwargs: Passed to :class:`mmdet.datasets.BaseDetDataset` (``data_root``,
            ``ann_file``, ``data_prefix``, ``filter_cfg``, ``pipeline``, ``test_mode``...).
            ``filter_cfg=dict(filter_empty_gt=True)`` drops training images without a
            face that is not ignored.
    """

    METAINFO = {'classes': ('face', ), 'palette': [(0, 255, 0)]}

    def __init__(self,
                 *args,
                 min_size: float = 0.0,
                 invalid_faces: str = 'face',
                 ann_format: str = 'auto',
                 lazy_size: bool = True,
                 **kwargs) -> None:
        if ann_format not in _ANN_FORMATS:
            raise ValueError(f'WIDERFaceOfficialDataset.ann_format must be one of '
                             f'{_ANN_FORMATS}, got {ann_format!r}')
        if min_size < 0:
            raise ValueError(f'WIDERFaceOfficialDataset.min_size must be >= 0, got {min_size}')
        if invalid_faces not in _INVALID_FACES:
            raise ValueError(f'WIDERFaceOfficialDataset.invalid_faces must be one of '
                             f'{_INVALID_FACES}, got {invalid_faces!r}')
        self.min_size = float(min_size)
        self.invalid_faces = invalid_faces
        self.ann_format = ann_format
        self.lazy_size = lazy_size
        self._size_cache: dict = {}
        super().__init__(*args, **kwargs)

    def _is_filelist(self) -> bool:
        if self.ann_format == 'auto':
            return osp.basename(self.ann_file).endswith('filelist.txt')
        return self.ann_format == 'filelist'

    def load_data_list(self) -> List[dict]:
        """Parse the annotation file into MMDetection data infos."""
        if not self.ann_file:
            raise ValueError('WIDERFaceOfficialDataset needs ann_file, e.g. '
                             "'wider_face_split/wider_face_val_bbx_gt.txt'")
        if self.backend_args is None and not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'WIDERFaceOfficialDataset: ann_file {self.ann_file} does not exist (data_root='
                f'{self.data_root!r}); point the config at the dataset with --cfg-options '
                'data_root=PATH/ or WIDER_FACE_ROOT=PATH/')
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local_path:
            if self._is_filelist():
                records = [
                    WiderFaceRecord(name=name, boxes=np.zeros((0, 4)),
                                    attributes=np.zeros((0, 6)))
                    for name in parse_wider_filelist(local_path, source=self.ann_file)
                ]
            else:
                records = parse_wider_bbx_gt(local_path, source=self.ann_file)
        if not records:  # MMDetection would fail later in a concatenate of nothing
            raise ValueError(f'{self.ann_file}: the annotation file lists no image (empty)')
        img_prefix = self.data_prefix.get('img', '')
        data_list = [self.parse_record(record, img_prefix) for record in records]
        if not self.lazy_size:
            for info in data_list:
                info['height'], info['width'] = read_image_size(info['img_path'],
                                                                self.backend_args)
        return data_list

    def parse_record(self, record: WiderFaceRecord, img_prefix: str) -> dict:
        """Convert one parsed image record to a data info dict.

        Args:
            record (WiderFaceRecord): The parsed annotation.
            img_prefix (str): The image folder (``data_prefix['img']``).

        Returns:
            dict: ``img_id``, ``img_path``, ``height``/``width`` (None until read),
            ``instances``.
        """
        instances = []
        for (x, y, w, h), attrs in zip(record.boxes.tolist(), record.attributes.tolist()):
            attributes = dict(zip(WIDER_ATTRIBUTES, attrs))
            ignore = (attributes['invalid'] == 1 and self.invalid_faces == 'ignore') or \
                w <= 0 or h <= 0 or min(w, h) < self.min_size
            instances.append(
                dict(bbox=[x, y, x + max(w, 0.0), y + max(h, 0.0)], bbox_label=0,
                     ignore_flag=int(ignore), **attributes))
        return dict(img_id=record.name.rsplit('.', 1)[0],
                    img_path=osp.join(img_prefix, record.name), height=None, width=None,
                    instances=instances)

    def get_data_info(self, idx: int) -> dict:
        """Return the data info of ``idx``, reading the image size on first use."""
        info = super().get_data_info(idx)
        if info.get('height') is None or info.get('width') is None:
            size = self._size_cache.get(idx)
            if size is None:
                size = read_image_size(info['img_path'], self.backend_args)
                self._size_cache[idx] = size
            info['height'], info['width'] = size
        return info

    def filter_data(self) -> List[dict]:
        """Drop images without a face that is not ignored, if
        ``filter_cfg=dict(filter_empty_gt=True)`` and not in test mode."""
        unknown = set(self.filter_cfg or {}) - {'filter_empty_gt'}
        if unknown:
            raise ValueError(f'WIDERFaceOfficialDataset.filter_cfg: unknown keys '
                             f'{sorted(unknown)} (only filter_empty_gt; small faces are '
                             'handled by the min_size argument, which ignores them)')
        if self.test_mode or not self.filter_cfg or \
                not self.filter_cfg.get('filter_empty_gt', False):
            return self.data_list
        return [
            info for info in self.data_list
            if any(not inst['ignore_flag'] for inst in info['instances'])
        ]
