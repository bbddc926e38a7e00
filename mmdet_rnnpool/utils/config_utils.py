"""Loading configs the way every tool of this project does."""
import os.path as osp
from typing import Optional

from mmengine.config import Config


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load ``path`` and apply ``--cfg-options`` overrides.

    Unlike a plain ``merge_from_dict``, an override of ``data_root`` moves every path that was
    derived from it (dataset roots, the evaluator's ground-truth folder, ...), because MMEngine
    has already expanded ``data_root`` into those dicts when it parsed the file.

    Args:
        path (str): Config file.
        cfg_options (dict, optional): ``key=value`` overrides. Defaults to None.

    Returns:
        Config: The loaded config.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    options = dict(cfg_options or {})
    data_root = options.pop('data_root', None)
    if data_root is not None:
        from mmdet_rnnpool.datasets.data_root import rebase_data_root
        rebase_data_root(cfg, data_root)
    if options:
        cfg.merge_from_dict(options)
    return cfg
