"""S3FDHead: max-out background channels, per-level layers, losses on tiny cases."""
import pytest
import torch
from mmcv.cnn import ConvModule
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
            type='AnchorGenerator',
            strides=[4, 8],
            base_sizes=[16, 32],
            ratios=[1.0],
            scales=[1.0],
            center_offset=0.5),
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


def test_per_level_kernel_sizes_set_the_receptive_field():
    # Face-C's release heads: 5x5 on some levels, 1x1 on others ("same" padding).
    head = _tiny_head(kernel_sizes=(5, 1))
    for level, k in enumerate((5, 1)):
        for convs in (head.cls_convs[level], head.reg_convs[level]):
            assert len(convs) == 1 and convs[0].kernel_size == (k, k)
            assert convs[0].padding == (k // 2, k // 2)
    feats = _feats()
    raw_cls, raw_reg = head.forward_layers(feats)
    assert [tuple(c.shape[-2:]) for c in raw_cls] == [(8, 8), (4, 4)]
    # A 5x5 kernel sees a pixel 2 away, not 3; a 1x1 kernel only its own pixel.
    moved = [f.clone() for f in feats]
    moved[0][0, 0, 4, 6] += 1.0
    moved[1][0, 0, 1, 2] += 1.0
    new_cls, new_reg = head.forward_layers(tuple(moved))
    for new, old in ((new_cls, raw_cls), (new_reg, raw_reg)):
        changed0 = (new[0] != old[0]).any(1)[0]
        assert changed0[4, 4] and changed0[2, 6] and not changed0[4, 3] and not changed0[0, 6]
        changed1 = (new[1] != old[1]).any(1)[0]
        assert changed1.nonzero().tolist() == [[1, 2]]


def test_branch_convs_face_quant_first_head():
    """The release's Face-Quant first head: separate score / box branches, each a 3x3 stride-2
    conv + BN + ReLU (4 -> 8), then a 3x3 conv; the source at stride 2, the anchors at 4."""
    train_cfg = ConfigDict(assigner=dict(type='S3FDAssigner'), sampler=dict(type='PseudoSampler'),
                           smoothl1_beta=1., allowed_border=-1, pos_weight=-1, neg_pos_ratio=3,
                           debug=False)
    head = S3FDHead(
        in_channels=(4, 2),
        branch_convs=[dict(out_channels=8, kernel_size=3, stride=2), None],
        act_cfg=dict(type='ReLU'),
        anchor_generator=dict(type='AnchorGenerator', strides=[4, 8], base_sizes=[16, 32],
                              ratios=[1.0], scales=[1.0], center_offset=0.5),
        train_cfg=train_cfg)
    for convs, out in ((head.cls_convs[0], 4), (head.reg_convs[0], 4)):
        branch, last = convs
        assert isinstance(branch, ConvModule)
        assert (branch.conv.in_channels, branch.conv.out_channels) == (4, 8)
        assert branch.conv.kernel_size == (3, 3) and branch.conv.stride == (2, 2)
        assert isinstance(branch.bn, torch.nn.BatchNorm2d)
        assert type(branch.activate) is torch.nn.ReLU
        assert (last.in_channels, last.out_channels, last.kernel_size) == (8, out, (3, 3))
    # separate weights, one branch each
    assert head.cls_convs[0][0].conv.weight is not head.reg_convs[0][0].conv.weight
    assert len(head.cls_convs[1]) == 1
    feats = (torch.rand(1, 4, 16, 16), torch.rand(1, 2, 4, 4))  # strides 2 and 8 on 32x32
    cls_scores, bbox_preds = head(feats)
    assert [tuple(c.shape) for c in cls_scores] == [(1, 2, 8, 8), (1, 2, 4, 4)]
    assert tuple(bbox_preds[0].shape) == (1, 4, 8, 8)
    face = InstanceData(bboxes=torch.tensor([[6., 6., 22., 22.]]), labels=torch.LongTensor([0]))
    losses = head.loss_by_feat(cls_scores, bbox_preds, [face], [IMG_META])
    (sum(losses['loss_cls']) + sum(losses['loss_bbox'])).backward()
    assert head.cls_convs[0][0].conv.weight.grad.abs().sum() > 0
    assert head.reg_convs[0][0].conv.weight.grad.abs().sum() > 0


def test_default_layers_are_ssd_heads():
    head = _tiny_head()
    for convs in (*head.cls_convs, *head.reg_convs):
        assert len(convs) == 1 and convs[0].kernel_size == (3, 3)


@pytest.mark.parametrize('kwargs, match', [
    (dict(kernel_sizes=(3, 2)), r'kernel_sizes\[1\] must be an odd'),
    (dict(kernel_sizes=(3, 3, 3)), 'kernel_sizes has 3 entries for 2 levels'),
    (dict(branch_convs=[None]), 'branch_convs has 1 entries for 2 levels'),
    (dict(branch_convs=[dict(channels=8), None]), r'branch_convs\[0\]\[0\] must be a dict'),
    (dict(branch_convs=[None, dict(out_channels=8, stride=0)]),
     r'branch_convs\[1\]\[0\].stride must be a positive int'),
    (dict(kernel_sizes=5, stacked_convs=1), 'stacked_convs'),
])
def test_bad_layer_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _tiny_head(**kwargs)
