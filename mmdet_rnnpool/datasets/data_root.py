"""Point an already-loaded config at another dataset root.

MMEngine expands ``data_root`` into the dataloader and evaluator dicts when it parses a
config, so ``--cfg-options data_root=X`` alone changes only the top-level variable. This
helper rewrites every string that starts with the config's ``data_root`` (dataset roots,
evaluator ground-truth folders, ...) to start with the new root instead.
"""
from typing import Any, Tuple

from mmengine.config import Config


def _join_root(root: str) -> str:
    return root if root.endswith('/') else root + '/'


def _rebase(value: Any, old: str, new: str) -> Tuple[Any, int]:
    if isinstance(value, str):
        if value.startswith(old):
            return new + value[len(old):], 1
        if value == old.rstrip('/'):
            return new, 1
        return value, 0
    if isinstance(value, dict):  # ConfigDict included
        count = 0
        for key in list(value.keys()):
            value[key], n = _rebase(value[key], old, new)
            count += n
        return value, count
    if isinstance(value, (list, tuple)):
        items, count = [], 0
        for item in value:
            item, n = _rebase(item, old, new)
            items.append(item)
            count += n
        return type(value)(items), count
    return value, 0


def rebase_data_root(cfg: Config, data_root: str) -> int:
    """Replace the ``data_root`` prefix of every path in ``cfg`` with ``data_root``.

    Args:
        cfg (Config): A loaded config with a top-level ``data_root``.
        data_root (str): The new dataset root (a trailing ``/`` is added if missing).

    Returns:
        int: How many values were rewritten (``data_root`` itself included).

    Raises:
        ValueError: If the config has no non-empty top-level ``data_root``.
    """
    old = cfg.get('data_root')
    if not isinstance(old, str) or not old.strip('/'):
        raise ValueError('rebase_data_root: the config has no top-level data_root to '
                         f'replace (got {old!r})')
    if not isinstance(data_root, str) or not data_root:
        raise ValueError(f'rebase_data_root: data_root must be a non-empty str, got '
                         f'{data_root!r}')
    old, new = _join_root(old), _join_root(data_root)
    count = 0
    for key in list(cfg.keys()):
        rebased, n = _rebase(cfg[key], old, new)
        cfg[key] = rebased
        count += n
    return count
