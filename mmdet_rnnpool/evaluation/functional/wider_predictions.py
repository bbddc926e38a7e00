"""Reading and writing predictions in the official WIDER FACE text layout.

One file per image, ``<pred_dir>/<event>/<name>.txt``::

    <name>
    <count>
    x y w h score      (count lines, pixels of the original image)

This is what the official ``eval_tools`` read, so a folder written by
:func:`write_wider_predictions` can be cross-checked with them.
"""
import math
import os
import os.path as osp
from typing import Dict, Mapping

import numpy as np


def image_key_from_path(img_path: str) -> str:
    """Return the image identity ``'<event>/<name>'`` from an image path.

    Args:
        img_path (str): E.g. ``'.../WIDER_val/images/0--Parade/0_Parade_x_1.jpg'``.

    Returns:
        str: The last folder and the file stem, e.g. ``'0--Parade/0_Parade_x_1'``.
    """
    parts = [p for p in str(img_path).replace('\\', '/').split('/') if p]
    if len(parts) < 2:
        raise ValueError(f'image path {img_path!r} must end with <event>/<image file> '
                         'to identify a WIDER FACE image')
    return f'{parts[-2]}/{osp.splitext(parts[-1])[0]}'


def write_wider_predictions(pred_dir: str, predictions: Mapping[str, np.ndarray]) -> None:
    """Write one official-layout text file per image.

    Args:
        pred_dir (str): The output folder (created if needed).
        predictions (Mapping[str, np.ndarray]): ``'<event>/<name>'`` -> ``(K, 5)`` array of
            ``x y w h score``. Rows are written in the given order.
    """
    for key, preds in predictions.items():
        event, sep, name = key.partition('/')
        if not sep or not event or not name or '/' in name:
            raise ValueError(f'prediction key {key!r} must be "<event>/<name>"')
        preds = np.asarray(preds, dtype=np.float64).reshape(-1, 5) if np.size(preds) \
            else np.zeros((0, 5))
        os.makedirs(osp.join(pred_dir, event), exist_ok=True)
        # numpy's str of a float64 is the shortest text that reads back as the same value,
        # so evaluating the files gives exactly the APs of the arrays
        lines = [name, str(len(preds))]
        lines += [' '.join(row) for row in preds.astype(str).tolist()]
        with open(osp.join(pred_dir, event, f'{name}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')


def read_wider_prediction_file(path: str) -> np.ndarray:
    """Read one official-layout prediction file.

    The name line is not checked (the official tools ignore it too). Every other problem
    raises a ValueError naming the file and line.

    Args:
        path (str): The ``.txt`` file.

    Returns:
        np.ndarray: ``(K, 5)`` float64 ``x y w h score``, in file order.
    """
    with open(path) as f:
        lines = f.read().splitlines()
    if len(lines) < 2:
        raise ValueError(f'{path}: expected a name line and a count line, '
                         f'got {len(lines)} line(s)')
    try:
        count = int(lines[1].strip())
    except ValueError:
        raise ValueError(f'{path}:2: expected the number of boxes, got {lines[1]!r}') from None
    if count < 0:
        raise ValueError(f'{path}:2: the number of boxes must be >= 0, got {count}')
    if len(lines) < 2 + count:
        raise ValueError(f'{path}: line 2 announces {count} boxes but only '
                         f'{len(lines) - 2} line(s) follow')
    for line_no in range(2 + count, len(lines)):
        if lines[line_no].strip():
            raise ValueError(f'{path}:{line_no + 1}: unexpected content after the {count} '
                             'announced boxes')
    rows = [line.split() for line in lines[2:2 + count]]
    try:
        # fast path: numpy parses every value at once
        preds = np.array(rows, dtype=np.float64).reshape(count, 5)
    except ValueError:
        preds = None
    if preds is None or not np.isfinite(preds).all():
        _raise_line_error(path, rows)
    return preds


def _raise_line_error(path: str, rows: list) -> None:
    """Find the first bad box line and raise a ValueError naming it."""
    for i, fields in enumerate(rows):
        line_no, text = i + 3, ' '.join(fields)
        if len(fields) != 5:
            raise ValueError(f'{path}:{line_no}: expected 5 values "x y w h score", '
                             f'got {len(fields)}')
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise ValueError(f'{path}:{line_no}: non-numeric value in {text!r}') from None
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f'{path}:{line_no}: non-finite value in {text!r}')
    raise AssertionError(f'{path}: no bad line found')  # unreachable: the fast path failed


def read_wider_predictions(pred_dir: str) -> Dict[str, np.ndarray]:
    """Read a folder of official-layout prediction files.

    Args:
        pred_dir (str): The folder with one sub-folder per event.

    Returns:
        dict[str, np.ndarray]: ``'<event>/<name>'`` -> ``(K, 5)`` ``x y w h score``.
    """
    if not osp.isdir(pred_dir):
        raise FileNotFoundError(f'prediction folder not found: {pred_dir}')
    predictions = {}
    for entry in sorted(os.listdir(pred_dir)):
        event_dir = osp.join(pred_dir, entry)
        if entry.startswith('.'):
            continue
        if not osp.isdir(event_dir):
            if entry.endswith('.txt'):
                raise ValueError(f'{event_dir}: prediction files must be inside an event '
                                 'folder (<pred_dir>/<event>/<name>.txt)')
            continue
        for file_name in sorted(os.listdir(event_dir)):
            if file_name.endswith('.txt') and not file_name.startswith('.'):
                key = f'{entry}/{file_name[:-4]}'
                predictions[key] = read_wider_prediction_file(osp.join(event_dir, file_name))
    return predictions
