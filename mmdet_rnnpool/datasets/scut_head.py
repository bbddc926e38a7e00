"""SCUT-HEAD (Peng et al., "Detecting Heads using Feature Refine Net and Cascaded
Multi-scale Architecture", ICPR 2018) in its released PASCAL-VOC-style layout.

The release has two parts, each a VOC folder::

    SCUT_HEAD_Part_A/  SCUT_HEAD_Part_B/
        JPEGImages/<id>.jpg
        Annotations/<id>.xml           (<object><name>person</name><bndbox>... per head)
        ImageSets/Main/{train,val,trainval,test}.txt

The RNNPool paper fine-tunes RNNPool-Face-M4 on it after WIDER FACE (Table 5, AP at IoU 0.5).
"""
import math
import os.path as osp
import xml.etree.ElementTree as ET
from typing import List, Optional

from mmdet.datasets import XMLDataset
from mmdet.registry import DATASETS
from mmengine.fileio import get_local_path

from .wider_face import read_image_size


class _BadAnnotation(ValueError):
    """A problem inside one XML file (the caller adds the file name)."""


def _text(element: ET.Element, tag: str, where: str) -> str:
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise _BadAnnotation(f'{where} has no <{tag}>')
    return child.text.strip()


def _number(element: ET.Element, tag: str, where: str) -> float:
    text = _text(element, tag, where)
    try:
        value = float(text)
    except ValueError:
        raise _BadAnnotation(f'{where}: <{tag}> is not a number: {text!r}') from None
    if not math.isfinite(value):
        raise _BadAnnotation(f'{where}: <{tag}> is not finite: {text!r}')
    return value


@DATASETS.register_module()
class SCUTHeadDataset(XMLDataset):
    """One part of SCUT-HEAD, read with mmdet's :class:`~mmdet.datasets.XMLDataset`.

    ``data_root`` is the folder holding the parts; ``data_prefix=dict(sub_data_root=
    'SCUT_HEAD_Part_B/')`` picks a part and ``ann_file`` its split list, e.g.
    ``'SCUT_HEAD_Part_B/ImageSets/Main/trainval.txt'`` (combine parts with mmengine's
    ``ConcatDataset``). The split list, the image and annotation folders and the filters
    (``filter_cfg=dict(filter_empty_gt=..., min_size=..., bbox_min_size=...)``) are
    XMLDataset's; this class only reads each XML file strictly: a file that is not
    well-formed, lacks a field or holds a non-number raises one ValueError naming the file
    (and the line, where the XML parser gives one) instead of a traceback deep in the parser.

    Boxes follow mmdet's VOC convention (1-based inclusive pixels, minus 1), which
    ``VOCMetric`` scores with the matching legacy areas. ``difficult`` heads and degenerate
    boxes (``xmax <= xmin`` or ``ymax <= ymin``) get ``ignore_flag=1``. The image size comes
    from ``<size>``, or from the image header where ``<size>`` is missing or zero.
    """

    METAINFO = {'classes': ('person', ), 'palette': [(255, 128, 0)]}

    def parse_data_info(self, img_info: dict) -> dict:
        """Parse one image's XML file (see the class doc for the checks)."""
        xml_path = img_info['xml_path']
        try:
            with get_local_path(xml_path, backend_args=self.backend_args) as local_path:
                root = ET.parse(local_path).getroot()
            return self._parse_root(root, img_info)
        except ET.ParseError as err:
            raise ValueError(f'{xml_path}: not well-formed XML ({err})') from None
        except _BadAnnotation as err:
            raise ValueError(f'{xml_path}: {err}') from None
        except FileNotFoundError:
            raise FileNotFoundError(f'SCUT-HEAD annotation not found: {xml_path} (listed in '
                                    f'{self.ann_file})') from None

    def _parse_root(self, root: ET.Element, img_info: dict) -> dict:
        if root.tag != 'annotation':
            raise _BadAnnotation(f'the root element is <{root.tag}>, not <annotation>')
        img_path = osp.join(self.sub_data_root, img_info['file_name'])
        height, width = self._image_size(root, img_path)
        return dict(img_path=img_path, img_id=img_info['img_id'],
                    xml_path=img_info['xml_path'], height=height, width=width,
                    instances=self._parse_objects(root))

    def _image_size(self, root: ET.Element, img_path: str) -> tuple:
        size = root.find('size')
        if size is not None:
            width = _number(size, 'width', '<size>')
            height = _number(size, 'height', '<size>')
            if width > 0 and height > 0:
                return int(height), int(width)
        return read_image_size(img_path, self.backend_args)

    def _parse_objects(self, root: ET.Element) -> List[dict]:
        classes = self._metainfo['classes']
        min_size: Optional[float] = self.bbox_min_size
        instances = []
        for i, obj in enumerate(root.findall('object')):
            where = f'object {i + 1}'
            name = _text(obj, 'name', where)
            if name not in classes:
                continue
            difficult = obj.find('difficult')
            difficult = 0 if difficult is None or not (difficult.text or '').strip() else \
                int(_number(obj, 'difficult', where))
            box = obj.find('bndbox')
            if box is None:
                raise _BadAnnotation(f'{where} ({name}) has no <bndbox>')
            x1, y1, x2, y2 = (_number(box, tag, f'{where} <bndbox>') - 1
                              for tag in ('xmin', 'ymin', 'xmax', 'ymax'))
            ignore = bool(difficult) or x2 <= x1 or y2 <= y1
            if min_size is not None and (x2 - x1 < min_size or y2 - y1 < min_size):
                ignore = True
            instances.append(dict(bbox=[x1, y1, x2, y2], bbox_label=classes.index(name),
                                  ignore_flag=int(ignore)))
        return instances
