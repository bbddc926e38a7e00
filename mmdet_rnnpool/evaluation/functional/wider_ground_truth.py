"""Reading and writing the official WIDER FACE evaluation ground truth.

The official ``eval_tools/ground_truth/`` folder holds four MATLAB files:

- ``wider_face_val.mat``: ``event_list`` (one cell per event, e.g. ``'0--Parade'``),
  ``file_list`` (per event, a cell of image file stems) and ``face_bbx_list`` (per event, a
  cell of ``(N, 4)`` ``x y w h`` pixel boxes, one per image).
- ``wider_{easy,medium,hard}_val.mat``: ``gt_list`` (per event, per image, the 1-based indices
  of the faces that count in that setting; the other faces are ignored).

:func:`save_wider_ground_truth` writes the same structure (cell arrays of cells, exactly as
``scipy.io.loadmat`` returns the real files), so generated datasets exercise the same code path
as the real benchmark; :func:`load_wider_ground_truth` reads either.
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List

import numpy as np

WIDER_SETTINGS = ('easy', 'medium', 'hard')
WIDER_VAL_FILE = 'wider_face_val.mat'
WIDER_SETTING_FILES = {s: f'wider_{s}_val.mat' for s in WIDER_SETTINGS}


@dataclass
class WiderGTImage:
    """Ground truth of one WIDER FACE image.

    Args:
        event (str): The event folder, e.g. ``'0--Parade'``.
        name (str): The image file stem, e.g. ``'0_Parade_marchingband_1_465'``.
        boxes (np.ndarray): ``(N, 4)`` face boxes as ``x y w h`` in pixels (the official
            layout). Converted to float64.
        settings (dict): ``{'easy': idx, 'medium': idx, 'hard': idx}``, 1-based indices into
            ``boxes`` of the faces that count in each setting. Converted to int64 arrays.
    """
    event: str
    name: str
    boxes: np.ndarray
    settings: Dict[str, np.ndarray]

    def __post_init__(self) -> None:
        where = f'WIDER ground truth image {self.event!r}/{self.name!r}'
        if not isinstance(self.event, str) or not self.event:
            raise ValueError(f'{where}: event must be a non-empty str')
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f'{where}: name must be a non-empty str')
        if '/' in self.name or '/' in self.event:
            raise ValueError(f'{where}: event and name must not contain "/"')
        boxes = np.asarray(self.boxes, dtype=np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f'{where}: boxes must have shape (N, 4) (x y w h), '
                             f'got {boxes.shape}')
        if not np.isfinite(boxes).all():
            raise ValueError(f'{where}: boxes contain non-finite values')
        self.boxes = boxes
        if not isinstance(self.settings, dict) or \
                set(self.settings) != set(WIDER_SETTINGS):
            got = sorted(self.settings) if isinstance(self.settings, dict) \
                else type(self.settings).__name__
            raise ValueError(f'{where}: settings must have exactly the keys '
                             f'{list(WIDER_SETTINGS)}, got {got}')
        settings = {}
        for setting in WIDER_SETTINGS:
            settings[setting] = _as_indices(self.settings[setting], len(boxes),
                                            f'{where}, setting {setting!r}')
        self.settings = settings

    @property
    def key(self) -> str:
        """str: The image identity ``'<event>/<name>'``."""
        return f'{self.event}/{self.name}'


def _as_indices(indices, num_boxes: int, where: str) -> np.ndarray:
    """Validate 1-based face indices and return them as a flat int64 array."""
    raw = np.asarray(indices)
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    if raw.dtype == object or raw.dtype.kind not in 'iuf':
        raise ValueError(f'{where}: indices must be numbers, got dtype {raw.dtype}')
    flat = raw.astype(np.float64).ravel()
    if not np.all(np.isfinite(flat)) or not np.all(flat == np.round(flat)):
        raise ValueError(f'{where}: indices must be integers, got {flat.tolist()}')
    flat = flat.astype(np.int64)
    if flat.min() < 1 or flat.max() > num_boxes:
        raise ValueError(f'{where}: indices are 1-based and must lie in 1..{num_boxes}, '
                         f'got {flat.tolist()}')
    if len(np.unique(flat)) != len(flat):
        raise ValueError(f'{where}: indices must not repeat, got {flat.tolist()}')
    return flat


def _cell_column(items: list) -> np.ndarray:
    """Build an ``(n, 1)`` object array, which ``scipy.io.savemat`` writes as a cell."""
    cell = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        cell[i, 0] = item
    return cell


def save_wider_ground_truth(gt_dir: str, images: List[WiderGTImage]) -> None:
    """Write the official WIDER FACE evaluation ground-truth files.

    Writes ``wider_face_val.mat`` (``event_list``, ``file_list``, ``face_bbx_list``) and
    ``wider_{easy,medium,hard}_val.mat`` (``gt_list``) into ``gt_dir`` (created if needed).
    Events are stored in order of their first appearance in ``images``; images keep their
    order within an event.

    Args:
        gt_dir (str): The output folder.
        images (list[WiderGTImage]): The images. Each ``<event>/<name>`` must be unique.
    """
    from scipy.io import savemat

    events: Dict[str, List[WiderGTImage]] = {}
    seen = set()
    for image in images:
        if not isinstance(image, WiderGTImage):
            raise TypeError('save_wider_ground_truth: images must be WiderGTImage, got '
                            f'{type(image).__name__}')
        if image.key in seen:
            raise ValueError(f'save_wider_ground_truth: image {image.key!r} appears twice')
        seen.add(image.key)
        events.setdefault(image.event, []).append(image)

    os.makedirs(gt_dir, exist_ok=True)
    event_list = _cell_column(list(events))
    file_list = _cell_column(
        [_cell_column([im.name for im in ims]) for ims in events.values()])
    face_bbx_list = _cell_column(
        [_cell_column([im.boxes.astype(np.float64) for im in ims])
         for ims in events.values()])
    savemat(
        osp.join(gt_dir, WIDER_VAL_FILE),
        dict(event_list=event_list, file_list=file_list, face_bbx_list=face_bbx_list))
    for setting, file_name in WIDER_SETTING_FILES.items():
        gt_list = _cell_column([
            _cell_column([
                im.settings[setting].astype(np.float64).reshape(-1, 1) for im in ims
            ]) for ims in events.values()
        ])
        savemat(osp.join(gt_dir, file_name), dict(gt_list=gt_list))


def _load_mat(path: str, keys: tuple) -> dict:
    from scipy.io import loadmat
    if not osp.isfile(path):
        raise FileNotFoundError(f'WIDER ground truth file not found: {path}')
    try:
        mat = loadmat(path)
    except Exception as e:  # scipy raises several types for corrupt files
        raise ValueError(f'{path}: not a readable MATLAB file ({e})') from None
    for key in keys:
        if key not in mat:
            raise ValueError(f'{path}: missing variable {key!r}')
    return mat


def _cells(value, path: str, what: str) -> list:
    """Return the elements of a MATLAB cell column as a list."""
    if not isinstance(value, np.ndarray) or value.dtype != object or \
            (value.size and value.ndim != 2) or (value.size and 1 not in value.shape):
        raise ValueError(f'{path}: {what} must be a cell column, got '
                         f'{getattr(value, "shape", type(value).__name__)} '
                         f'of {getattr(value, "dtype", "?")}')
    return list(value.ravel())


def _string(value, path: str, what: str) -> str:
    """Return the str inside a loaded MATLAB char array (possibly wrapped in a cell)."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.ravel()[0]
    if isinstance(value, np.ndarray) and value.dtype.kind == 'U' and value.size == 1:
        return str(value.ravel()[0])
    if isinstance(value, str):
        return value
    raise ValueError(f'{path}: {what} must be a string, got '
                     f'{getattr(value, "dtype", type(value).__name__)}')


def load_wider_ground_truth(gt_dir: str) -> List[WiderGTImage]:
    """Read the official WIDER FACE evaluation ground truth (real or generated).

    Args:
        gt_dir (str): The folder with ``wider_face_val.mat`` and
            ``wider_{easy,medium,hard}_val.mat``.

    Returns:
        list[WiderGTImage]: Every image, event by event in file order.
    """
    val_path = osp.join(gt_dir, WIDER_VAL_FILE)
    val = _load_mat(val_path, ('event_list', 'file_list', 'face_bbx_list'))
    event_cells = _cells(val['event_list'], val_path, 'event_list')
    file_cells = _cells(val['file_list'], val_path, 'file_list')
    box_cells = _cells(val['face_bbx_list'], val_path, 'face_bbx_list')
    if not len(event_cells) == len(file_cells) == len(box_cells):
        raise ValueError(f'{val_path}: event_list, file_list and face_bbx_list have '
                         f'{len(event_cells)}, {len(file_cells)} and {len(box_cells)} '
                         'events; they must match')
    events = [_string(e, val_path, f'event_list{{{i + 1}}}') for i, e in enumerate(event_cells)]
    names, boxes = [], []
    for i, event in enumerate(events):
        ev_names = [
            _string(n, val_path, f'file_list{{{i + 1}}}{{{j + 1}}}')
            for j, n in enumerate(_cells(file_cells[i], val_path, f'file_list{{{i + 1}}}'))
        ]
        ev_boxes = _cells(box_cells[i], val_path, f'face_bbx_list{{{i + 1}}}')
        if len(ev_boxes) != len(ev_names):
            raise ValueError(f'{val_path}: event {event!r} has {len(ev_names)} files but '
                             f'{len(ev_boxes)} face_bbx_list entries')
        names.append(ev_names)
        boxes.append(ev_boxes)

    settings = {}
    for setting, file_name in WIDER_SETTING_FILES.items():
        path = osp.join(gt_dir, file_name)
        gt_cells = _cells(_load_mat(path, ('gt_list', ))['gt_list'], path, 'gt_list')
        if len(gt_cells) != len(events):
            raise ValueError(f'{path}: gt_list has {len(gt_cells)} events but '
                             f'{WIDER_VAL_FILE} has {len(events)}')
        per_event = []
        for i, event in enumerate(events):
            cells = _cells(gt_cells[i], path, f'gt_list{{{i + 1}}}')
            if len(cells) != len(names[i]):
                raise ValueError(f'{path}: event {event!r} has {len(cells)} gt_list entries '
                                 f'but {WIDER_VAL_FILE} has {len(names[i])} files')
            per_event.append(cells)
        settings[setting] = (path, per_event)

    images = []
    for i, event in enumerate(events):
        for j, name in enumerate(names[i]):
            box = boxes[i][j]
            if not isinstance(box, np.ndarray) or box.dtype.kind not in 'iuf':
                raise ValueError(f'{val_path}: face_bbx_list of {event}/{name} must be a '
                                 'numeric (N, 4) matrix')
            box = box.astype(np.float64)
            if box.size == 0:
                box = box.reshape(0, 4)
            if box.ndim != 2 or box.shape[1] != 4:
                raise ValueError(f'{val_path}: face_bbx_list of {event}/{name} must have '
                                 f'shape (N, 4), got {box.shape}')
            image_settings = {}
            for setting, (path, per_event) in settings.items():
                idx = per_event[i][j]
                if not isinstance(idx, np.ndarray) or (idx.size and idx.dtype.kind not in 'iuf'):
                    raise ValueError(f'{path}: gt_list of {event}/{name} must be a numeric '
                                     'index vector')
                image_settings[setting] = _as_indices(idx, len(box), f'{path}: {event}/{name}')
            try:
                images.append(WiderGTImage(event, name, box, image_settings))
            except ValueError as e:
                raise ValueError(f'{val_path}: {e}') from None
    return images
