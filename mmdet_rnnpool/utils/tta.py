"""Switch a loaded config to its test-time augmentation, as ``tools/test.py --tta`` does.

MMDetection's convention: a config holds ``tta_model`` (the merging wrapper) and
``tta_pipeline`` (the pipeline that expands each image into its views); ``--tta`` wraps the
model in ``tta_model`` and puts ``tta_pipeline`` on the test dataset. Unlike mmdet's tool,
which falls back to a flip test merged by NMS, a config without them is an error here: a
silent fallback would report numbers of a protocol nobody asked for.
"""
from mmengine.config import Config, ConfigDict


def apply_tta(cfg: Config, config_name: str = 'the config') -> Config:
    """Wrap ``cfg.model`` in ``cfg.tta_model`` and test with ``cfg.tta_pipeline``.

    Args:
        cfg (Config): A loaded config (modified in place).
        config_name (str): The config's path, for messages.

    Returns:
        Config: ``cfg``.

    Raises:
        KeyError: If the config has no ``tta_model`` or ``tta_pipeline``.
        ValueError: If the test dataloader's batch size is not 1 (the views per image vary).
    """
    for key in ('tta_model', 'tta_pipeline'):
        if not cfg.get(key):
            raise KeyError(f'{config_name} has no {key}: --tta needs tta_model and '
                           'tta_pipeline in the config (see configs/_base_/datasets/'
                           'wider_face.py)')
    batch_size = cfg.test_dataloader.get('batch_size', 1)
    if batch_size != 1:
        raise ValueError(f'--tta needs test_dataloader.batch_size=1 (each image has its own '
                         f'number of test views), {config_name} has {batch_size}')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:  # dataset wrappers
        dataset = dataset['dataset']
    dataset.pipeline = cfg.tta_pipeline
    return cfg
