from .box_voting import box_vote, legacy_iou_with
from .box_voting_tta import (PROTOCOL_KEY, SIZE_FILTER_KEY, BoxVotingTTAModel,
                             size_filter_mask)

__all__ = [
    'box_vote', 'legacy_iou_with', 'BoxVotingTTAModel', 'size_filter_mask', 'PROTOCOL_KEY',
    'SIZE_FILTER_KEY'
]
