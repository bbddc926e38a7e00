"""S3FDHead: max-out background channels, losses on a tiny case."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet_rnnpool.models.dense_heads import S3FDHead, max_out_background

IMG_META = dict(img_shape=(32, 32), pad_shape=(32, 32), scale_factor=(1., 1.))


def _tiny_head(**kwargs) -> S3FDHead:
    train_cfg = ConfigDict(
        assigner=dict(type='S3FDAssigner'),
        sampler=dict(type='PseudoSampler'),
        smoothl1_beta=1.,
        allowed_border=-1,
        pos_weight=-1,
        neg_pos_ratio=3,
        debug=False)
    return S3FDHead(
        num_classes=1,
        in_channels=(1, 1),
        anchor_generator=dict(
            type='CellCenteredAnchorGenerator',
            strides=[4, 8],
            base_sizes=[16, 32],
            ratios=[1.0],
            scales=[1.0]),
        train_cfg=train_cfg,
        **kwargs)


def _feats():
    return (torch.rand(1, 1, 8, 8), torch.rand(1, 1, 4, 4))


def test_max_out_background_keeps_max_background_last():
    # 2 anchors x (1 face + 3 background) channels on a 1x2 map.
    raw = torch.tensor([0.5, 1., 3., 2., -1., -4., -2., -3.]).view(1, 8, 1, 1).repeat(1, 1, 1, 2)
    out = max_out_background(raw, num_classes=1, num_max_out=3, num_anchors=2)
    assert out.shape == (1, 4, 1, 2)
    assert out[0, :, 0, 0].tolist() == [0.5, 3., -1., -2.]
    with pytest.raises(ValueError, match='max-out'):
        max_out_background(raw, num_classes=1, num_max_out=2, num_anchors=2)


def test_forward_channels_and_max_out():
    head = _tiny_head()
    raw_cls, raw_reg = head.forward_layers(_feats())
    # Level 0 predicts face + 3 background scores, level 1 the usual face + background.
    assert [c.shape[1] for c in raw_cls] == [4, 2]
    assert [r.shape[1] for r in raw_reg] == [4, 4]
    cls_scores, bbox_preds = head(_feats())
    assert [tuple(c.shape) for c in cls_scores] == [(1, 2, 8, 8), (1, 2, 4, 4)]
    feats = _feats()
    raw_cls, _ = head.forward_layers(feats)
    cls_scores, _ = head(feats)
    torch.testing.assert_close(cls_scores[0][:, 0], raw_cls[0][:, 0])
    torch.testing.assert_close(cls_scores[0][:, 1], raw_cls[0][:, 1:].max(1)[0])
    torch.testing.assert_close(cls_scores[1], raw_cls[1])


def test_loss_empty_and_one_face():
    head = _tiny_head()
    cls_scores, bbox_preds = head(_feats())
    empty = InstanceData(bboxes=torch.empty((0, 4)), labels=torch.LongTensor([]))
    losses = head.loss_by_feat(cls_scores, bbox_preds, [empty], [IMG_META])
    # No face: no positive, so no negative is mined either, and no box loss.
    assert sum(losses['loss_cls']).item() == 0
    assert sum(losses['loss_bbox']).item() == 0

    face = InstanceData(bboxes=torch.tensor([[4., 5., 20., 22.]]), labels=torch.LongTensor([0]))
    losses = head.loss_by_feat(cls_scores, bbox_preds, [face], [IMG_META])
    assert sum(losses['loss_cls']).item() > 0
    assert sum(losses['loss_bbox']).item() > 0


def test_loss_reaches_the_max_out_channels():
    # Gradients of a positive on level 0 must flow into the raw background channels.
    head = _tiny_head()
    feats = _feats()
    cls_scores, bbox_preds = head(feats)
    face = InstanceData(bboxes=torch.tensor([[6., 6., 14., 14.]]), labels=torch.LongTensor([0]))
    losses = head.loss_by_feat(cls_scores, bbox_preds, [face], [IMG_META])
    sum(losses['loss_cls']).backward()
    grad = head.cls_convs[0][-1].weight.grad
    assert grad.shape[0] == 4
    assert grad[1:].abs().sum() > 0


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_max_out=0), 'num_max_out'),
    (dict(max_out_levels=(2, )), 'max_out_levels'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _tiny_head(**kwargs)


def test_levels_must_match_anchor_generator():
    with pytest.raises(ValueError, match='anchor generator'):
        S3FDHead(in_channels=(1, 1, 1))
