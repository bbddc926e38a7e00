"""The test views of the S3FD-style multi-scale test that produced the RNNPool paper's WIDER
FACE numbers (the authors' release): original, flipped, shrunk and enlarged images."""
import copy
import math
from typing import List, NamedTuple, Optional

from mmcv.transforms import BaseTransform, Compose
from mmdet.registry import TRANSFORMS


class TestView(NamedTuple):
    """One test view: its name, resize factor, flip and which detections it keeps."""
    name: str
    scale: float
    flip: bool
    size_filter: Optional[dict]


def s3fd_test_views(height: int,
                    width: int,
                    max_area: int = 1700 * 1200,
                    small_face: float = 30.0,
                    large_face: float = 100.0,
                    flip: bool = True) -> List[TestView]:
    """The release's test views of an image of ``height x width``.

    With ``m = sqrt(max_area / (height * width))`` (the largest scale within the size limit):

    - ``original``: scale ``min(1, m)`` (the image shrunk only when above the limit);
    - ``flip``: the same, flipped horizontally;
    - ``shrink``: scale 0.5 (``0.5 m`` when ``m < 0.75``), keeping faces whose longer side is
      above ``small_face``;
    - ``enlarge``: scale ``min(2, m)`` when ``m > 1``, else halfway between the shrink scale
      and ``m``; when ``m > 2`` also 4, 8, ... below ``m``, and ``m`` itself. The enlarged views
      keep the faces whose shorter side is below ``large_face`` when ``m > 1`` (they are
      enlarged to find small faces), else those whose longer side is above ``small_face``.

    Args:
        height (int): Image height.
        width (int): Image width.
        max_area (int): The size limit in pixels. Defaults to 1700 * 1200.
        small_face (float): Smallest face the shrunk view reports. Defaults to 30.
        large_face (float): The enlarged views report faces smaller than this.
            Defaults to 100.
        flip (bool): Include the flipped view. Defaults to True.

    Returns:
        list[TestView]: The views, in the release's order.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f's3fd_test_views: bad image size {height} x {width}')
    m = math.sqrt(max_area / (height * width))
    base = min(1.0, m)
    views = [TestView('original', base, False, None)]
    if flip:
        views.append(TestView('flip', base, True, None))
    shrink = 0.5 if m >= 0.75 else 0.5 * m
    views.append(TestView('shrink', shrink, False, dict(max_side_above=small_face)))
    big_rule = dict(min_side_below=large_face) if m > 1 else dict(max_side_above=small_face)
    scale = min(2.0, m) if m > 1 else (shrink + m) / 2
    enlarge = [scale]
    if m > 2:
        scale *= 2
        while scale < m:
            enlarge.append(scale)
            scale *= 2
        enlarge.append(m)
    views += [
        TestView('enlarge' if i == 0 else f'enlarge_{i + 1}', s, False, dict(big_rule))
        for i, s in enumerate(enlarge)
    ]
    return views


@TRANSFORMS.register_module()
class S3FDMultiScaleAug(BaseTransform):
    """Expand one loaded image into the release's test views (see :func:`s3fd_test_views`).

    Like mmcv's ``TestTimeAug``, it returns ``dict(inputs=[...], data_samples=[...])`` with
    one entry per view, for a TTA model such as
    :class:`mmdet_rnnpool.models.BoxVotingTTAModel`. Each view is resized with mmdet's
    ``Resize`` (bilinear, ``scale_factor`` recorded so that predictions map back to the
    original image), flipped with ``RandomFlip`` where it is the flipped view, then passed
    through ``transforms`` (which must end with ``PackDetInputs``). Its data sample gets the
    metainfo ``flip``, ``flip_direction``, ``tta_view``, ``tta_scale`` and
    ``tta_size_filter`` (which detections the view keeps).

    The number of views depends on the image size (small images get more enlarged views),
    so a TTA dataloader must use ``batch_size=1``.

    Args:
        transforms (list[dict]): Applied to every view after its resize / flip, e.g.
            ``[dict(type='LoadAnnotations', with_bbox=True), dict(type='PackDetInputs')]``.
        max_area (int): The size limit in pixels. Defaults to 1700 * 1200.
        small_face (float): See :func:`s3fd_test_views`. Defaults to 30.
        large_face (float): See :func:`s3fd_test_views`. Defaults to 100.
        flip (bool): Include the flipped view. Defaults to True.
    """

    def __init__(self,
                 transforms: List[dict],
                 max_area: int = 1700 * 1200,
                 small_face: float = 30.0,
                 large_face: float = 100.0,
                 flip: bool = True) -> None:
        if not isinstance(transforms, (list, tuple)) or not transforms:
            raise ValueError('S3FDMultiScaleAug.transforms must be a non-empty list ending '
                             'with PackDetInputs')
        if max_area <= 0 or small_face < 0 or large_face <= 0:
            raise ValueError(f'S3FDMultiScaleAug: max_area and large_face must be > 0 and '
                             f'small_face >= 0, got {max_area}, {large_face}, {small_face}')
        # built from mmdet's registry, so the pipeline works whatever the default scope
        self.transforms = Compose(
            [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in transforms])
        self.max_area = int(max_area)
        self.small_face = float(small_face)
        self.large_face = float(large_face)
        self.flip = flip

    def views(self, height: int, width: int) -> List[TestView]:
        """The views of an image of this size."""
        return s3fd_test_views(height, width, self.max_area, self.small_face,
                               self.large_face, self.flip)

    def transform(self, results: dict) -> dict:
        height, width = results['img'].shape[:2]
        out = dict(inputs=[], data_samples=[])
        for view in self.views(height, width):
            packed = self.transforms(self._apply_view(copy.deepcopy(results), view))
            if not isinstance(packed, dict) or 'data_samples' not in packed:
                raise ValueError('S3FDMultiScaleAug.transforms must end with PackDetInputs '
                                 f'(got {packed if packed is None else sorted(packed)})')
            packed['data_samples'].set_metainfo(
                dict(flip=view.flip, flip_direction='horizontal' if view.flip else None,
                     tta_view=view.name, tta_scale=view.scale,
                     tta_size_filter=view.size_filter))
            out['inputs'].append(packed['inputs'])
            out['data_samples'].append(packed['data_samples'])
        return out

    @staticmethod
    def _apply_view(results: dict, view: TestView) -> dict:
        height, width = results['img'].shape[:2]
        size = (max(1, int(width * view.scale + 0.5)), max(1, int(height * view.scale + 0.5)))
        results = TRANSFORMS.build(dict(type='Resize', scale=size, keep_ratio=False))(results)
        if view.flip:
            results = TRANSFORMS.build(
                dict(type='RandomFlip', prob=1.0, direction='horizontal'))(results)
        else:
            results['flip'], results['flip_direction'] = False, None
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_area={self.max_area}, small_face={self.small_face}, '
                f'large_face={self.large_face}, flip={self.flip}, '
                f'transforms={self.transforms})')
