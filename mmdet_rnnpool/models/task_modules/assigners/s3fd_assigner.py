"""S3FD's two-stage anchor matching (Zhang et al., ICCV 2017, Sec. 3.2 "scale compensation"),
with the compensation rule of the RNNPool release or of the S3FD paper."""
from typing import Optional, Union

import torch
from mmdet.models.task_modules.assigners import AssignResult, MaxIoUAssigner
from mmdet.registry import TASK_UTILS
from torch import Tensor


_COMPENSATIONS = ('release', 'per_face')


@TASK_UTILS.register_module()
class S3FDAssigner(MaxIoUAssigner):
    """Anchor matching with S3FD's scale compensation.

    Stage 1 is a max-IoU assignment: every anchor whose best IoU with a face is at least
    ``pos_iou_thr`` (0.35) matches that face, and every face also gets its best anchor. Anchors
    below ``neg_iou_thr`` are negatives.

    Stage 2 compensates faces (mostly tiny or outer-scale ones) that matched too few anchors,
    with anchors that stage 1 left negative and that overlap a face by more than
    ``compensate_iou_thr`` (0.1). Two rules (``compensation``):

    - ``'release'`` (default; the authors' public release, which produced the paper's
      numbers): ``N = (#faces whose best anchor IoU >= pos_iou_thr + #faces whose best anchor
      IoU >= compensate_count_thr) // 2``, counted over the image; the ``N`` anchors with the
      highest IoU in ``(compensate_iou_thr, pos_iou_thr)``, over all faces together, become
      positive, each for the face it overlaps most.
    - ``'per_face'`` (the S3FD paper's wording): with ``N`` the mean number of anchors per
      matched face in stage 1, rounded, every face with ``k < N`` anchors is topped up to
      ``N`` with its highest-IoU free anchors above ``compensate_iou_thr``; an anchor wanted
      by several faces goes to the one it overlaps most.

    ``num_compensate`` fixes ``N`` for either rule. Ignored regions (``gt_instances_ignore``
    with ``ignore_iof_thr > 0``) behave as in :class:`MaxIoUAssigner`: overlapping anchors are
    neither positive nor negative, in both stages.

    Args:
        pos_iou_thr (float): Stage-1 IoU threshold for positives. Defaults to 0.35.
        neg_iou_thr (float | tuple[float, float]): IoU below which (or range in which) anchors
            are negatives. Defaults to 0.35.
        compensate_iou_thr (float): Stage-2 minimum IoU (exclusive). Defaults to 0.1.
        compensation (str): ``'release'`` or ``'per_face'``. Defaults to 'release'.
        compensate_count_thr (float): The release's second threshold in the count of ``N``.
            Defaults to 0.5.
        num_compensate (int, optional): Fixed ``N`` for stage 2; None computes it per image
            by the chosen rule. Defaults to None.
        min_pos_iou (float): Minimum IoU for a face's best anchor to be forced positive; the
            default only asks that they overlap (with 0, a face that overlaps no anchor would
            take an arbitrary one). Defaults to 1e-6.
        gt_max_assign_all (bool): Give a face every anchor that ties its best IoU.
            Defaults to False.
        ignore_iof_thr (float): IoF with ignored boxes above which anchors are ignored;
            negative disables it. Defaults to -1.
        **kwargs: Other :class:`MaxIoUAssigner` arguments.
    """

    def __init__(self,
                 pos_iou_thr: float = 0.35,
                 neg_iou_thr: Union[float, tuple] = 0.35,
                 compensate_iou_thr: float = 0.1,
                 compensation: str = 'release',
                 compensate_count_thr: float = 0.5,
                 num_compensate: Optional[int] = None,
                 min_pos_iou: float = 1e-6,
                 gt_max_assign_all: bool = False,
                 ignore_iof_thr: float = -1,
                 **kwargs) -> None:
        if num_compensate is not None and (isinstance(num_compensate, bool)
                                           or not isinstance(num_compensate, int)
                                           or num_compensate < 1):
            raise ValueError('S3FDAssigner: num_compensate must be None or a positive int, '
                             f'got {num_compensate!r}')
        if not 0 <= compensate_iou_thr < 1:
            raise ValueError('S3FDAssigner: compensate_iou_thr must be in [0, 1), '
                             f'got {compensate_iou_thr!r}')
        if compensation not in _COMPENSATIONS:
            raise ValueError(f'S3FDAssigner: compensation must be one of {_COMPENSATIONS}, '
                             f'got {compensation!r}')
        if not 0 < compensate_count_thr <= 1:
            raise ValueError('S3FDAssigner: compensate_count_thr must be in (0, 1], '
                             f'got {compensate_count_thr!r}')
        super().__init__(
            pos_iou_thr=pos_iou_thr,
            neg_iou_thr=neg_iou_thr,
            min_pos_iou=min_pos_iou,
            gt_max_assign_all=gt_max_assign_all,
            ignore_iof_thr=ignore_iof_thr,
            match_low_quality=True,
            **kwargs)
        self.compensate_iou_thr = compensate_iou_thr
        self.compensation = compensation
        self.compensate_count_thr = compensate_count_thr
        self.num_compensate = num_compensate

    def assign_wrt_overlaps(self, overlaps: Tensor, gt_labels: Tensor) -> AssignResult:
        """Stage 1 (max-IoU) then stage 2 (scale compensation).

        Args:
            overlaps (Tensor): IoU between the k faces and n anchors, ``(k, n)``; ignored
                anchors carry -1.
            gt_labels (Tensor): Labels of the k faces, ``(k,)``.

        Returns:
            :obj:`AssignResult`: ``gt_inds`` is 0 for negatives, -1 for ignored anchors and
            the 1-based face index for positives.
        """
        result = super().assign_wrt_overlaps(overlaps, gt_labels)
        num_gts, num_anchors = overlaps.shape
        if num_gts == 0 or num_anchors == 0:
            return result
        if self.compensation == 'release':
            self._compensate_release(result, overlaps, gt_labels)
        else:
            self._compensate_per_face(result, overlaps, gt_labels)
        return result

    def _compensate_release(self, result: AssignResult, overlaps: Tensor,
                            gt_labels: Tensor) -> None:
        """The release's stage 2: the image's top-N free anchors in (0.1, 0.35)."""
        if self.num_compensate is not None:
            num_target = self.num_compensate
        else:
            best_of_face = overlaps.max(dim=1).values
            num_target = (int((best_of_face >= self.pos_iou_thr).sum()) +
                          int((best_of_face >= self.compensate_count_thr).sum())) // 2
        if num_target <= 0:
            return
        iou = result.max_overlaps
        candidate = (result.gt_inds == 0) & (iou > self.compensate_iou_thr) & \
            (iou < self.pos_iou_thr)
        candidate_iou = torch.where(candidate, iou, iou.new_full((), -1.))
        k = min(num_target, int(candidate.sum()))
        if k == 0:
            return
        # Highest IoU first; the lowest anchor index on a tie (a stable order).
        order = torch.argsort(candidate_iou, descending=True, stable=True)[:k]
        face_of = overlaps[:, order].argmax(dim=0)
        result.gt_inds[order] = face_of + 1
        result.labels[order] = gt_labels[face_of]

    def _compensate_per_face(self, result: AssignResult, overlaps: Tensor,
                             gt_labels: Tensor) -> None:
        """S3FD's wording: top up every face below the stage-1 mean to its top-N anchors."""
        num_gts, num_anchors = overlaps.shape
        gt_inds = result.gt_inds
        matched = gt_inds > 0
        counts = torch.bincount(gt_inds[matched] - 1, minlength=num_gts)
        if self.num_compensate is not None:
            num_target = self.num_compensate
        else:
            matched_faces = counts > 0
            if not matched_faces.any():
                return
            num_target = max(1, int(round(counts[matched_faces].float().mean().item())))

        needy = torch.nonzero(counts < num_target, as_tuple=False).view(-1)
        if needy.numel() == 0:
            return
        # Candidates: stage-1 leftovers (negatives, not ignored ones) above the low threshold.
        free = gt_inds == 0
        candidate_iou = overlaps[needy].clone()
        candidate_iou[:, ~free] = -1
        candidate_iou[candidate_iou <= self.compensate_iou_thr] = -1
        # A face's top-N includes the anchors it already has, so it takes N - count new ones.
        k = min(num_target, num_anchors)
        top_iou, top_idx = candidate_iou.topk(k, dim=1)
        wanted = counts[needy].neg().add(num_target).clamp(min=0)
        rank = torch.arange(k, device=overlaps.device).expand_as(top_idx)
        take = (top_iou > self.compensate_iou_thr) & (rank < wanted[:, None])
        if not take.any():
            return
        face_of = needy[:, None].expand_as(top_idx)[take]
        anchor_of = top_idx[take]
        iou_of = top_iou[take]
        # An anchor wanted by several faces goes to its highest-IoU one (the lowest face index
        # on a tie): sort by IoU (descending), then stably by anchor, keep each anchor's first.
        order = torch.argsort(iou_of, descending=True, stable=True)
        order = order[torch.argsort(anchor_of[order], stable=True)]
        anchor_of, face_of, iou_of = anchor_of[order], face_of[order], iou_of[order]
        first = torch.ones_like(anchor_of, dtype=torch.bool)
        first[1:] = anchor_of[1:] != anchor_of[:-1]
        anchor_of, face_of, iou_of = anchor_of[first], face_of[first], iou_of[first]
        gt_inds[anchor_of] = face_of + 1
        result.max_overlaps[anchor_of] = iou_of
        result.labels[anchor_of] = gt_labels[face_of]
