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


def _encode(face, anchor):
    """S3FD's box encoding, written out: centre offsets / (0.1 * anchor size), log size ratios
    / 0.2."""
    fx, fy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    fw, fh = face[2] - face[0], face[3] - face[1]
    ax, ay = (anchor[0] + anchor[2]) / 2, (anchor[1] + anchor[3]) / 2
    aw, ah = anchor[2] - anchor[0], anchor[3] - anchor[1]
    return torch.stack([(fx - ax) / aw / 0.1, (fy - ay) / ah / 0.1,
                        torch.log(fw / aw) / 0.2, torch.log(fh / ah) / 0.2])


def test_loss_is_mined_3_to_1_over_all_levels_and_divided_by_all_positives():
    # Two images (one face, two faces) with hand-set scores: the loss must be, per image,
    # the cross-entropy of its positives plus its 3 x #positives hardest negatives (ranked
    # over both levels together), and smooth-L1 (beta 1) of the encoded boxes on positives,
    # each summed over the batch and divided by the batch's number of positives.
    head = _tiny_head()
    torch.manual_seed(0)
    cls_scores = [torch.randn(2, 2, 8, 8) * 2, torch.randn(2, 2, 4, 4) * 2]
    bbox_preds = [torch.randn(2, 4, 8, 8), torch.randn(2, 4, 4, 4)]
    faces = [torch.tensor([[5., 3., 21., 17.]]),
             torch.tensor([[2., 2., 30., 30.], [20., 18., 29., 28.]])]
    gts = [InstanceData(bboxes=f, labels=torch.zeros(len(f), dtype=torch.long)) for f in faces]
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts, [IMG_META, IMG_META])

    anchors = torch.cat(head.prior_generator.grid_priors([(8, 8), (4, 4)], device='cpu'))
    flat_cls = torch.cat([s.permute(0, 2, 3, 1).reshape(2, -1, 2) for s in cls_scores], 1)
    flat_reg = torch.cat([b.permute(0, 2, 3, 1).reshape(2, -1, 4) for b in bbox_preds], 1)
    total_pos, cls_sum, reg_sum = 0, 0., 0.
    for img, face in enumerate(faces):
        assign = head.assigner.assign(InstanceData(priors=anchors), gts[img])
        pos = assign.gt_inds > 0
        num_pos = int(pos.sum())
        assert num_pos > 0
        total_pos += num_pos
        target = torch.where(pos, torch.zeros_like(assign.gt_inds), torch.ones_like(
            assign.gt_inds))  # face 0, background 1 (mmdet: background last)
        ce = torch.nn.functional.cross_entropy(flat_cls[img], target, reduction='none')
        hardest_neg = ce[~pos].sort(descending=True).values[:3 * num_pos]
        cls_sum = cls_sum + ce[pos].sum() + hardest_neg.sum()
        for a in torch.nonzero(pos).view(-1).tolist():
            diff = flat_reg[img, a] - _encode(face[assign.gt_inds[a] - 1], anchors[a])
            reg_sum = reg_sum + torch.where(diff.abs() < 1, 0.5 * diff ** 2,
                                            diff.abs() - 0.5).sum()
    torch.testing.assert_close(sum(losses['loss_cls']).sum(), cls_sum / total_pos)
    torch.testing.assert_close(sum(losses['loss_bbox']).sum(), reg_sum / total_pos)
