"""Point a WIDER FACE config at the test split, which is released without ground truth.

The official test split has images and a list of names (``wider_face_split/
wider_face_test_filelist.txt``) but no boxes: a run can only write the submission files (the
official layout, one ``<event>/<name>.txt`` per image) for the benchmark's server, not score
them. This rewires a loaded config accordingly; ``tools/wider_test_predictions.py`` runs it.
"""
from mmengine.config import Config

WIDER_TEST_FILELIST = 'wider_face_split/wider_face_test_filelist.txt'
WIDER_TEST_IMAGES = 'WIDER_test/images/'


def use_wider_test_split(cfg: Config,
                         prediction_dir: str,
                         ann_file: str = WIDER_TEST_FILELIST,
                         img_prefix: str = WIDER_TEST_IMAGES) -> Config:
    """Test on the WIDER FACE test split and only write the submission files.

    Args:
        cfg (Config): A loaded WIDER FACE config (modified in place).
        prediction_dir (str): Where the ``<event>/<name>.txt`` files go.
        ann_file (str): The file list, relative to the dataset's ``data_root``.
            Defaults to ``wider_face_split/wider_face_test_filelist.txt``.
        img_prefix (str): The image folder, relative to ``data_root``.
            Defaults to ``WIDER_test/images/``.

    Returns:
        Config: ``cfg``.
    """
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:  # dataset wrappers
        dataset = dataset['dataset']
    if dataset.get('type') != 'WIDERFaceOfficialDataset':
        raise ValueError('the WIDER FACE test split needs a config whose test dataset is '
                         f"WIDERFaceOfficialDataset, got {dataset.get('type')!r}")
    dataset.ann_file = ann_file
    dataset.data_prefix = dict(img=img_prefix)
    dataset.ann_format = 'filelist'
    dataset.test_mode = True
    cfg.test_evaluator = dict(type='WIDERFaceMetric', format_only=True,
                              prediction_dir=prediction_dir, plot_curves=False)
    return cfg
