"""The official WIDER FACE annotation text format: reading and writing.

``wider_face_split/wider_face_{train,val}_bbx_gt.txt`` holds, for every image, a name line
(``<event>/<stem>.jpg``), a count line and then one line per face with ten integers::

    x1 y1 w h blur expression illumination invalid occlusion pose

An image with no face has a count of ``0`` followed by a single dummy face line of zeros.
``wider_face_test_filelist.txt`` only lists the image names, one per line.

The functions here know nothing about MMDetection, so the dataset class, the mini-dataset
builder and the tests share one parser and one writer.
"""
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence

import numpy as np

#: The per-face attribute columns, in file order, after ``x1 y1 w h``.
WIDER_ATTRIBUTES = ('blur', 'expression', 'illumination', 'invalid', 'occlusion', 'pose')

#: File name endings accepted on a name line.
_IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')


@dataclass
class WiderFaceRecord:
    """The annotation of one image in a ``*_bbx_gt.txt`` file.

    Args:
        name (str): The image path relative to the images folder, e.g.
            ``'0--Parade/0_Parade_marchingband_1_849.jpg'``.
        boxes (np.ndarray): ``(N, 4)`` float32 boxes as ``x1 y1 w h`` in pixels.
        attributes (np.ndarray): ``(N, 6)`` int64 attributes, columns as in
            :data:`WIDER_ATTRIBUTES`.
        line (int): The 1-based line number of the name line in the source file.
            Defaults to 0 (unknown).
    """
    name: str
    boxes: np.ndarray
    attributes: np.ndarray
    line: int = 0

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.attributes = np.asarray(self.attributes, dtype=np.int64).reshape(-1, 6)
        if len(self.boxes) != len(self.attributes):
            raise ValueError(f'WIDER record {self.name!r}: {len(self.boxes)} boxes but '
                             f'{len(self.attributes)} attribute rows')

    @property
    def event(self) -> str:
        """str: The event folder, e.g. ``'0--Parade'`` (empty if the name has none)."""
        return self.name.rsplit('/', 1)[0] if '/' in self.name else ''

    @property
    def stem(self) -> str:
        """str: The file name without folder and extension."""
        return self.name.rsplit('/', 1)[-1].rsplit('.', 1)[0]


def _read_lines(path: str) -> List[str]:
    with open(path, encoding='utf-8') as f:
        return f.read().splitlines()


def _parse_name(text: str, where: str) -> str:
    name = text.strip()
    if not name or len(name.split()) != 1 or \
            not name.lower().endswith(_IMAGE_SUFFIXES):
        raise ValueError(f'{where}: expected an image name such as '
                         f"'0--Parade/0_Parade_marchingband_1_849.jpg', got {text!r}")
    return name


def _parse_face(text: str, where: str) -> tuple:
    fields = text.split()
    if len(fields) != 10:
        raise ValueError(f'{where}: expected 10 numbers "x1 y1 w h blur expression '
                         f'illumination invalid occlusion pose", got {len(fields)} in '
                         f'{text!r}')
    try:
        box = [float(v) for v in fields[:4]]
        attrs = [int(v) for v in fields[4:]]
    except ValueError:
        raise ValueError(f'{where}: expected numeric box and integer attributes, got '
                         f'{text!r}') from None
    if not np.all(np.isfinite(box)):
        raise ValueError(f'{where}: non-finite box value in {text!r}')
    if min(attrs) < 0 or attrs[WIDER_ATTRIBUTES.index('invalid')] > 1:
        raise ValueError(f'{where}: attributes must be >= 0 and invalid must be 0 or 1, '
                         f'got {text!r}')
    return box, attrs


def parse_wider_bbx_gt(path: str, source: Optional[str] = None) -> List[WiderFaceRecord]:
    """Parse an official ``wider_face_*_bbx_gt.txt`` file.

    Args:
        path (str): A local path to the file.
        source (str, optional): The name used in error messages (e.g. the remote path the
            local file came from). Defaults to ``path``.

    Returns:
        list[WiderFaceRecord]: One record per image, in file order.

    Raises:
        ValueError: On a malformed line, naming ``<file>:<1-based line>``.
    """
    source = source or path
    lines = _read_lines(path)
    records: List[WiderFaceRecord] = []
    i, n = 0, len(lines)
    while i < n:
        if not lines[i].strip():  # blank lines between records (e.g. at the end)
            i += 1
            continue
        name_line = i + 1
        name = _parse_name(lines[i], f'{source}:{name_line}')
        i += 1
        if i >= n:
            raise ValueError(f'{source}:{name_line}: file ends after image name {name!r}; '
                             'expected a face count line')
        count_text = lines[i].strip()
        try:
            count = int(count_text)
        except ValueError:
            count = -1
        if count < 0:
            raise ValueError(f'{source}:{i + 1}: expected a non-negative face count for '
                             f'{name!r}, got {lines[i]!r}')
        i += 1
        boxes, attrs = [], []
        for _ in range(count):
            if i >= n or not lines[i].strip():
                raise ValueError(f'{source}:{i + 1}: image {name!r} (line {name_line}) '
                                 f'declares {count} faces but only {len(boxes)} follow')
            box, attr = _parse_face(lines[i], f'{source}:{i + 1}')
            boxes.append(box)
            attrs.append(attr)
            i += 1
        if count == 0 and i < n and len(lines[i].split()) == 10:
            # The official files follow a zero count with one dummy face line of zeros.
            box, attr = _parse_face(lines[i], f'{source}:{i + 1}')
            if any(box) or any(attr):
                raise ValueError(f'{source}:{i + 1}: the dummy line after a zero face count '
                                 f'must be all zeros, got {lines[i]!r}')
            i += 1
        records.append(
            WiderFaceRecord(name=name, boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                            attributes=np.asarray(attrs, np.int64).reshape(-1, 6),
                            line=name_line))
    return records


def parse_wider_filelist(path: str, source: Optional[str] = None) -> List[str]:
    """Parse ``wider_face_test_filelist.txt`` (one image name per line, no boxes).

    Args:
        path (str): A local path to the file.
        source (str, optional): The name used in error messages. Defaults to ``path``.

    Returns:
        list[str]: The image names relative to the images folder.
    """
    source = source or path
    return [
        _parse_name(text, f'{source}:{i + 1}')
        for i, text in enumerate(_read_lines(path)) if text.strip()
    ]


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def format_wider_bbx_gt(records: Iterable[WiderFaceRecord]) -> str:
    """Write records in the official ``*_bbx_gt.txt`` format (inverse of the parser).

    Zero-face images get the official dummy line ``0 0 0 0 0 0 0 0 0 0``.

    Args:
        records (Iterable[WiderFaceRecord]): The images, in the order to write them.

    Returns:
        str: The file content, ending with a newline.
    """
    out: List[str] = []
    for record in records:
        out.append(record.name)
        out.append(str(len(record.boxes)))
        if len(record.boxes) == 0:
            out.append(' '.join(['0'] * 10))
        for box, attrs in zip(record.boxes, record.attributes):
            values: Sequence[str] = [_format_number(v) for v in box] + \
                [str(int(a)) for a in attrs]
            out.append(' '.join(values))
    return '\n'.join(out) + '\n'
