"""Reading a COCO ``instances_*.json`` file with one-line errors that name the file.

Only what image-level labels need is kept (image id, file name, size, and each annotation's
category, box and area), checked field by field, so a truncated download or a wrong file fails
with ``<file>: ...`` instead of a ``KeyError`` deep inside a converter. No pycocotools needed.
"""
import json
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Tuple


@dataclass
class CocoObject:
    """One instance annotation: its category, ``[x, y, w, h]`` box, area and crowd flag."""
    category_id: int
    bbox: Tuple[float, float, float, float]
    area: float
    iscrowd: bool = False


@dataclass
class CocoImage:
    """One image entry and the instance annotations that point at it."""
    id: int
    file_name: str
    width: int
    height: int
    objects: List[CocoObject] = field(default_factory=list)


@dataclass
class CocoInstances:
    """A parsed instances file: images by id (in file order) and category names by id."""
    path: str
    images: Dict[int, CocoImage]
    categories: Dict[int, str]

    def category_id(self, name: str) -> int:
        """The id of the category called ``name``; ``ValueError`` naming the file if absent."""
        ids = [cid for cid, cname in self.categories.items() if cname == name]
        if not ids:
            raise ValueError(f'{self.path}: no category named {name!r} in "categories"')
        return ids[0]


def _number(path: str, where: str, key: str, value, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f'{path}: {where}: "{key}" must be a number, got {value!r}')
    if positive and value <= 0:
        raise ValueError(f'{path}: {where}: "{key}" must be > 0, got {value!r}')
    return value


def _field(path: str, where: str, entry, key: str):
    if not isinstance(entry, dict):
        raise ValueError(f'{path}: {where} must be a JSON object, got {type(entry).__name__}')
    if key not in entry:
        raise ValueError(f'{path}: {where} has no "{key}"')
    return entry[key]


def load_coco_instances(path: str) -> CocoInstances:
    """Parse and check ``path``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: ``<path>:<line>:<column>: malformed JSON`` or ``<path>: <what is wrong>``
            (a missing key, a wrong type, an annotation of an unknown image, ...).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'COCO annotation file not found: {path}')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path}:{e.lineno}:{e.colno}: malformed JSON ({e.msg})') from None
    except UnicodeDecodeError as e:
        raise ValueError(f'{path}: not a UTF-8 JSON file ({e.reason} at byte {e.start})') \
            from None
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a COCO instances object at the top level, got '
                         f'{type(data).__name__}')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            raise ValueError(f'{path}: "{key}" is missing or not a list (is this a COCO '
                             'instances_*.json file?)')

    categories: Dict[int, str] = {}
    for i, entry in enumerate(data['categories']):
        where = f'categories[{i}]'
        cid = _field(path, where, entry, 'id')
        name = _field(path, where, entry, 'name')
        if isinstance(cid, bool) or not isinstance(cid, int) or not isinstance(name, str):
            raise ValueError(f'{path}: {where}: needs an int "id" and a str "name"')
        categories[cid] = name

    images: Dict[int, CocoImage] = {}
    for i, entry in enumerate(data['images']):
        where = f'images[{i}]'
        image_id = _field(path, where, entry, 'id')
        if isinstance(image_id, bool) or not isinstance(image_id, int):
            raise ValueError(f'{path}: {where}: "id" must be an int, got {image_id!r}')
        if image_id in images:
            raise ValueError(f'{path}: {where}: duplicate image id {image_id}')
        file_name = _field(path, where, entry, 'file_name')
        if not isinstance(file_name, str) or not file_name:
            raise ValueError(f'{path}: {where}: "file_name" must be a non-empty str')
        width = _number(path, where, 'width', _field(path, where, entry, 'width'), True)
        height = _number(path, where, 'height', _field(path, where, entry, 'height'), True)
        images[image_id] = CocoImage(image_id, file_name, int(width), int(height))

    for i, entry in enumerate(data['annotations']):
        where = f'annotations[{i}]'
        image_id = _field(path, where, entry, 'image_id')
        if image_id not in images:
            raise ValueError(f'{path}: {where}: "image_id" {image_id!r} is not in "images"')
        category_id = _field(path, where, entry, 'category_id')
        if category_id not in categories:
            raise ValueError(f'{path}: {where}: "category_id" {category_id!r} is not in '
                             '"categories"')
        bbox = _field(path, where, entry, 'bbox')
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise ValueError(f'{path}: {where}: "bbox" must be [x, y, w, h], got {bbox!r}')
        bbox = tuple(float(_number(path, where, 'bbox', v)) for v in bbox)
        area = float(_number(path, where, 'area', _field(path, where, entry, 'area')))
        images[image_id].objects.append(
            CocoObject(category_id, bbox, area, bool(entry.get('iscrowd', 0))))
    return CocoInstances(path=path, images=images, categories=categories)
