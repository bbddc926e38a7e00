"""MMPretrain's classification annotation file: one ``<relative image path> <label>`` per line.

This is the format ``mmpretrain.datasets.CustomDataset`` (and its ``ImageNet`` subclass) reads
when given ``ann_file``: each line is split at its *last* space, so the path may contain
spaces, and the label is the class index. Paths are relative to the dataset's ``data_prefix``
(itself under ``data_root``).

The dataset tools write these files and the tests read them back; nothing here imports
MMPretrain, so the detection half of the plugin never needs it.
"""
import os
import os.path as osp
from typing import Iterable, List, Sequence, Tuple

#: ``(relative image path, class index)``.
Sample = Tuple[str, int]


def write_ann_file(path: str, samples: Iterable[Sample]) -> int:
    """Write ``samples`` to ``path`` (folders created) and return how many were written.

    Raises:
        ValueError: If a path is empty, absolute or contains a line break, or a label is not a
            non-negative int.
    """
    lines = []
    for name, label in samples:
        if not name or osp.isabs(name) or '\n' in name or '\r' in name:
            raise ValueError(f'{path}: cannot write image path {name!r} (it must be a '
                             'non-empty relative path on one line)')
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            raise ValueError(f'{path}: label of {name!r} must be a non-negative int, got '
                             f'{label!r}')
        lines.append(f'{name} {label}\n')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.writelines(lines)
    return len(lines)


def read_ann_file(path: str) -> List[Sample]:
    """Read an annotation file the way MMPretrain does, with line-numbered errors.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: ``path:line: ...`` for a line without a label or with a non-integer one.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation file not found: {path}')
    samples: List[Sample] = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(' ', 1)
            if len(parts) != 2 or not parts[1].isdigit():
                raise ValueError(f'{path}:{number}: expected "<image path> <label>", got '
                                 f'{line!r}')
            samples.append((parts[0], int(parts[1])))
    return samples


def write_class_names(path: str, classes: Sequence[str]) -> None:
    """Write one class name per line, in label order (for people and other tools)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.writelines(f'{name}\n' for name in classes)
