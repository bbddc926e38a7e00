"""WIDER FACE easy / medium / hard AP as an MMEngine metric (the official protocol)."""
import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from mmdet.registry import METRICS
from ..functional import (WIDER_IOU_THRESHOLD, WIDER_NUM_THRESHOLDS, WIDER_SETTINGS,
                          evaluate_wider, image_key_from_path, load_wider_ground_truth,
                          plot_wider_pr_curves, write_wider_predictions)


#: The protocol of data samples that do not name one: the test pipeline's single view.
SINGLE_SCALE = 'single-scale'
#: The metainfo key naming the protocol (set by mmdet_rnnpool.models.BoxVotingTTAModel).
PROTOCOL_KEY = 'test_protocol'


def _describe(protocol: str) -> str:
    if protocol == SINGLE_SCALE:
        return 'single-scale test: one view per image, the test pipeline\'s resize'
    return f'{protocol} test: merged test-time views'


def _get(container, name: str):
    """Read a field from a data sample given as a dict (the Evaluator's form) or an object."""
    if isinstance(container, dict):
        if name not in container:
            raise KeyError(name)
        return container[name]
    if not hasattr(container, name):
        raise KeyError(name)
    return getattr(container, name)


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


@METRICS.register_module()
class WIDERFaceMetric(BaseMetric):
    """The official WIDER FACE evaluation: easy, medium and hard AP.

    Implements ``eval_tools`` of the benchmark to the letter (see
    :mod:`mmdet_rnnpool.evaluation.functional.wider_face_eval` for the protocol and how the
    0/0 cases are guarded). Besides ``easy``, ``medium`` and ``hard`` it reports the same
    three APs on the images with at most ``max_faces`` ground-truth faces
    (``easy_le3`` ...), evaluated as a dataset of their own, which is the second view of the
    RNNPool paper (Table 4).

    Data samples need ``img_path`` (its last folder and file stem give the image identity
    ``<event>/<name>`` that the ground truth uses) and ``pred_instances`` with ``bboxes``
    (``x1 y1 x2 y2`` in the original image) and ``scores``. All predicted boxes are used (the
    dataset has a single class). Ground-truth images without predictions count their faces
    as misses; predictions for images missing from the ground truth raise ValueError.

    Which protocol the numbers come from: a data sample with the metainfo ``test_protocol``
    (set by a TTA model such as :class:`mmdet_rnnpool.models.BoxVotingTTAModel`, e.g.
    ``'multiscale'``) puts that name before each metric (``multiscale/easy``, logged as
    ``widerface/multiscale/easy``); samples without it are the single-scale test pipeline's
    (metric names unchanged: ``widerface/easy``). The log line names the protocol either way.

    The test split (no ground truth): with ``format_only=True`` the metric only writes the
    official submission layout to ``prediction_dir`` and reports no AP.

    Outputs besides the metrics:

    - ``prediction_dir``: if set, the predictions are written there in the official text
      layout (``<event>/<name>.txt``) for a cross-check with the official tools or
      ``tools/analysis_tools/eval_wider_predictions.py``.
    - The precision-recall curves of the three settings are saved as
      ``wider_pr_curves.png`` (overwritten by each evaluation) in ``save_dir`` if given,
      otherwise in the folder of the current :class:`MMLogger`'s log file, which under a
      :class:`mmengine.runner.Runner` is the run's log dir ``<work_dir>/<timestamp>/``. With
      neither (e.g. no file logging) the plot is skipped with a log message.

    Args:
        gt_dir (str, optional): The folder with the official ``wider_face_val.mat`` and
            ``wider_{easy,medium,hard}_val.mat``. Not needed with ``format_only``.
        max_faces (int, optional): The face limit of the second view; None disables it.
            Defaults to 3.
        iou_threshold (float): The IoU of a match. Defaults to 0.5.
        num_thresholds (int): The number of score thresholds. Defaults to 1000.
        prediction_dir (str, optional): Where to write official-layout prediction files.
            Defaults to None.
        save_dir (str, optional): Where to save the PR-curve PNG. Defaults to None.
        plot_curves (bool): Whether to save the PR-curve PNG. Defaults to True.
        format_only (bool): Only write the predictions to ``prediction_dir`` (the official
            submission layout, one ``<event>/<name>.txt`` per image), no AP: for the test
            split. Defaults to False.
        collect_device (str): ``'cpu'`` or ``'gpu'``, for collecting results across ranks.
            Defaults to 'cpu'.
        prefix (str, optional): The prefix of the metric names. Defaults to None, which uses
            ``'widerface'``.
    """
    default_prefix: Optional[str] = 'widerface'

    def __init__(self,
                 gt_dir: Optional[str] = None,
                 max_faces: Optional[int] = 3,
                 iou_threshold: float = WIDER_IOU_THRESHOLD,
                 num_thresholds: int = WIDER_NUM_THRESHOLDS,
                 prediction_dir: Optional[str] = None,
                 save_dir: Optional[str] = None,
                 plot_curves: bool = True,
                 format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.format_only = format_only
        if format_only:
            if not prediction_dir:
                raise ValueError('WIDERFaceMetric: format_only=True needs prediction_dir '
                                 '(where the submission files go)')
        elif not isinstance(gt_dir, str) or not osp.isdir(gt_dir):
            raise FileNotFoundError(f'WIDERFaceMetric: gt_dir {gt_dir!r} is not a folder')
        if max_faces is not None and (not isinstance(max_faces, int) or max_faces < 0):
            raise ValueError(f'WIDERFaceMetric: max_faces must be an int >= 0 or None, '
                             f'got {max_faces!r}')
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f'WIDERFaceMetric: iou_threshold must lie in (0, 1], '
                             f'got {iou_threshold}')
        if not isinstance(num_thresholds, int) or num_thresholds < 1:
            raise ValueError(f'WIDERFaceMetric: num_thresholds must be an int >= 1, '
                             f'got {num_thresholds!r}')
        self.gt_dir = gt_dir
        # read (and validate) the ground truth now, so a bad gt_dir fails before training
        self.gt_images = [] if format_only else load_wider_ground_truth(gt_dir)
        self.max_faces = max_faces
        self.iou_threshold = iou_threshold
        self.num_thresholds = num_thresholds
        self.prediction_dir = prediction_dir
        self.save_dir = save_dir
        self.plot_curves = plot_curves

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each image's identity and its predictions as ``x1 y1 x2 y2 score``.

        Args:
            data_batch (dict): The data batch (unused).
            data_samples (Sequence[dict]): The model outputs, as dicts (what the Evaluator
                passes) or :class:`DetDataSample`.
        """
        for sample in data_samples:
            try:
                img_path = _get(sample, 'img_path')
                pred = _get(sample, 'pred_instances')
                bboxes = _to_numpy(_get(pred, 'bboxes')).astype(np.float32)
                scores = _to_numpy(_get(pred, 'scores')).astype(np.float32)
            except KeyError as e:
                raise KeyError(f'WIDERFaceMetric: data sample has no {e.args[0]!r} '
                               '(needs img_path, pred_instances.bboxes, '
                               'pred_instances.scores)') from None
            bboxes = bboxes.reshape(-1, 4) if bboxes.size else np.zeros((0, 4), np.float32)
            if scores.ndim != 1 or len(scores) != len(bboxes):
                raise ValueError(f'WIDERFaceMetric: {img_path}: {len(bboxes)} boxes but scores '
                                 f'of shape {scores.shape}')
            protocol = sample.get(PROTOCOL_KEY, SINGLE_SCALE) if isinstance(sample, dict) \
                else getattr(sample, PROTOCOL_KEY, SINGLE_SCALE)
            self.results.append((image_key_from_path(img_path),
                                 np.concatenate([bboxes, scores[:, None]], 1), protocol))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Evaluate the collected predictions.

        Args:
            results (list[tuple]): ``(key, (K, 5) x1 y1 x2 y2 score, protocol)`` per image.

        Returns:
            dict[str, float]: ``easy``, ``medium``, ``hard`` and, with ``max_faces``,
            ``easy_le{max_faces}`` ... - APs in 0..1, each prefixed by ``<protocol>/`` unless
            single-scale; nothing with ``format_only``.
        """
        logger = MMLogger.get_current_instance()
        protocols = sorted({protocol for _, _, protocol in results})
        if len(protocols) > 1:
            raise ValueError(f'WIDERFaceMetric: predictions of several test protocols mixed in '
                             f'one evaluation: {protocols}')
        protocol = protocols[0] if protocols else SINGLE_SCALE
        predictions = {}
        for key, boxes, _ in results:
            if key in predictions:
                raise ValueError(f'WIDERFaceMetric: image {key!r} was predicted twice')
            boxes = boxes.astype(np.float64)
            # official layout: x y w h with w = x2 - x1 (the reader adds w back)
            predictions[key] = np.concatenate(
                [boxes[:, :2], boxes[:, 2:4] - boxes[:, :2], boxes[:, 4:5]], axis=1)
        if self.format_only:
            write_wider_predictions(self.prediction_dir, predictions)
            print_log(f'WIDERFaceMetric: {len(predictions)} prediction files ({protocol} test) '
                      f'written to {self.prediction_dir} in the official submission layout; '
                      'no AP (format_only)', logger)
            return {}
        gt_keys = {image.key for image in self.gt_images}
        unknown = sorted(set(predictions) - gt_keys)
        if unknown:
            raise ValueError(
                f'WIDERFaceMetric: {len(unknown)} predicted image(s) are not in the ground '
                f'truth of {self.gt_dir} (first: {unknown[0]!r}); for the test split, which has '
                'no ground truth, write the submission files instead: '
                'tools/wider_test_predictions.py CONFIG CHECKPOINT --out-dir DIR')
        missing = len(self.gt_images) - len(predictions)
        if missing > 0:
            print_log(f'WIDERFaceMetric: {missing} of {len(self.gt_images)} ground-truth '
                      'images have no predictions; their faces count as misses.',
                      logger, level=logging.WARNING)
        if self.prediction_dir is not None:
            write_wider_predictions(self.prediction_dir, predictions)
            print_log(f'WIDERFaceMetric: predictions written to {self.prediction_dir}', logger)

        kwargs = dict(iou_threshold=self.iou_threshold, num_thresholds=self.num_thresholds)
        curves = evaluate_wider(self.gt_images, predictions, **kwargs)
        metrics = {s: curves[s].ap for s in WIDER_SETTINGS}
        if self.max_faces is not None:
            few = evaluate_wider(self.gt_images, predictions, max_faces=self.max_faces,
                                 **kwargs)
            metrics.update({f'{s}_le{self.max_faces}': few[s].ap for s in WIDER_SETTINGS})
            self._warn_empty(few, f' (images with <= {self.max_faces} faces)', logger)
        self._warn_empty(curves, '', logger)

        table = ', '.join(f'{name}: {ap:.4f}' for name, ap in metrics.items())
        print_log(f'WIDER FACE AP ({_describe(protocol)}) - {table}', logger)
        if self.plot_curves:
            self._save_plot(curves, logger, protocol)
        if protocol != SINGLE_SCALE:
            metrics = {f'{protocol}/{name}': ap for name, ap in metrics.items()}
        return metrics

    @staticmethod
    def _warn_empty(curves, what: str, logger) -> None:
        for setting, curve in curves.items():
            if curve.num_faces == 0:
                print_log(f'WIDERFaceMetric: setting {setting!r}{what} lists no faces; '
                          'its AP is reported as 0.', logger, level=logging.WARNING)

    def _save_plot(self, curves, logger, protocol: str = SINGLE_SCALE) -> None:
        save_dir = self.save_dir
        if save_dir is None:
            log_file = getattr(logger, 'log_file', None)
            save_dir = osp.dirname(osp.abspath(log_file)) if log_file else None
        if save_dir is None:
            print_log('WIDERFaceMetric: no save_dir and no log file; PR curves not saved.',
                      logger)
            return
        name = 'wider_pr_curves.png' if protocol == SINGLE_SCALE else \
            f'wider_pr_curves_{protocol}.png'
        out_file = plot_wider_pr_curves(
            curves, osp.join(save_dir, name),
            title=f'WIDER FACE, {protocol} test ({curves[WIDER_SETTINGS[0]].num_images} images)')
        print_log(f'WIDERFaceMetric: PR curves saved to {out_file}', logger)
