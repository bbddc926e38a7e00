import os.path as osp

import pytest
import torch
import torch.nn as nn

pytest.importorskip('mmdet')

from mmdet.registry import MODELS  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402

from mmdet_rnnpool.models.backbones.resnet_rnnpool_stem import ResNetRNNPoolStem  # noqa: E402
from mmdet_rnnpool.ops import RNNPool  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CONFIG = osp.join(REPO, 'configs', 'rnnpool_drop_in', 'retinanet_r18-rnnpool-stem_fpn_1x_coco.py')
STEM_POOL = dict(type='RNNPool', in_channels=64, hidden_channels=(16, 16), kernel_size=3,
                 stride=2, padding=1)


def test_stem_pool_is_a_drop_in_for_the_max_pool():
    torch.manual_seed(0)
    default = MODELS.build(dict(type='ResNetRNNPoolStem', depth=18, out_indices=(0, 3)))
    assert isinstance(default.maxpool, nn.MaxPool2d)
    rnnpool = MODELS.build(
        dict(type='ResNetRNNPoolStem', depth=18, out_indices=(0, 3), stem_pool=STEM_POOL))
    assert isinstance(rnnpool.maxpool, RNNPool)
    x = torch.randn(1, 3, 45, 62)  # odd sizes: the window rule must match the max-pool's
    with torch.no_grad():
        shapes = [f.shape for f in default(x)]
        assert [f.shape for f in rnnpool(x)] == shapes
    assert shapes[0] == (1, 64, 12, 16)


def test_stem_pool_channel_and_config_errors():
    with pytest.raises(ValueError, match='stem_pool.in_channels'):
        ResNetRNNPoolStem(depth=18, stem_pool=dict(STEM_POOL, in_channels=32))
    with pytest.raises(ValueError, match='stem_pool.out_channels'):
        ResNetRNNPoolStem(depth=18, stem_pool=dict(STEM_POOL, hidden_channels=(16, 8)))
    with pytest.raises(ValueError, match='stem_pool'):
        ResNetRNNPoolStem(depth=18, stem_pool='RNNPool')


@pytest.mark.slow
def test_drop_in_config_trains(tmp_path):
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules

    from mmdet_rnnpool.utils import apply_compat_patches
    apply_compat_patches()  # makes `_base_ = 'mmdet::...'` resolvable without pkg_resources
    register_all_modules()
    cfg = Config.fromfile(CONFIG)
    # Only the backbone differs from the stock RetinaNet-R18 config.
    assert cfg.model.type == 'RetinaNet' and cfg.model.neck.type == 'FPN'
    assert cfg.model.backbone.type == 'ResNetRNNPoolStem' and cfg.model.backbone.depth == 18
    assert cfg.model.backbone.stem_pool.type == 'RNNPool'

    torch.manual_seed(0)
    cfg.model.backbone.init_cfg = None  # no ImageNet download in tests; the rest initialises
    model = MODELS.build(cfg.model)
    model.init_weights()
    pool = model.backbone.maxpool
    assert isinstance(pool, RNNPool)
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)  # the stock SGD settings
    before = {name: p.detach().clone() for name, p in pool.named_parameters()}
    losses = []
    for _ in range(3):  # forward + loss + backward + optimizer step
        data = demo_mm_inputs(batch_size=2, image_shapes=[(3, 64, 80)] * 2, num_items=[3, 2],
                              num_classes=80)
        log_vars = model.train_step(data, optim)
        assert set(log_vars) >= {'loss', 'loss_cls', 'loss_bbox'}
        losses.append(log_vars['loss'].item())
    assert all(0 < loss < 100 for loss in losses), losses
    # The RNNPool stem was trained: every parameter moved.
    for name, param in pool.named_parameters():
        assert torch.isfinite(param).all(), name
        assert not torch.equal(param.detach(), before[name]), name
