"""Every classifier config builds with MMPretrain and trains a step at a tiny size."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'rnnpool_cls')
CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))
# The VWW resolution variants share their model with the 224 px config: only their pipelines
# differ, checked without building the model.
RESOLUTION_VARIANTS = [p for p in CONFIGS if '_vww-' in p and not p.endswith('_vww-224px.py')]
MODEL_CONFIGS = [p for p in CONFIGS if p not in RESOLUTION_VARIANTS]


def test_configs_found():
    assert len(CONFIGS) >= 50


def _ids(paths):
    return [osp.basename(p)[:-3] for p in paths]


@pytest.mark.parametrize('path', RESOLUTION_VARIANTS, ids=_ids(RESOLUTION_VARIANTS))
def test_vww_resolution_variant(path):
    cfg = Config.fromfile(path)
    size = int(path.rsplit('_vww-', 1)[1][:-len('px.py')])
    train = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    test = {t.type: t for t in cfg.test_dataloader.dataset.pipeline}
    assert train['RandomResizedCrop'].scale == size
    assert train['RandomResizedCrop'].crop_ratio_range == (0.2, 1.0)  # VWW: scale 0.2 - 1
    assert test['CenterCrop'].crop_size == size
    assert test['ResizeEdge'].scale == round(size * 256 / 224)  # 256 / 224 like ImageNet
    base = Config.fromfile(path.rsplit('_vww-', 1)[0] + '_vww-224px.py')
    assert cfg.model == base.model


@pytest.mark.parametrize('path', MODEL_CONFIGS, ids=_ids(MODEL_CONFIGS))
def test_config_builds_and_trains_a_step(path):
    cfg = Config.fromfile(path)  # imports custom_imports: mmdet_rnnpool.cls
    assert 'mmdet_rnnpool.cls' in cfg.custom_imports['imports']
    assert cfg.default_scope == 'mmpretrain'
    # Appendix G's recipe, from whichever bases the config inherits.
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 0.05, 0.9, 4e-5)
    epochs = 150 if ('_vww-' in path or '_in1k' in path) else 300
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.auto_scale_lr.base_batch_size == 256 and '_8xb32-' in path
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.param_scheduler.type == 'CosineAnnealingLR' and cfg.param_scheduler.T_max == epochs
    assert cfg.default_hooks.checkpoint.save_best == 'accuracy/top1'  # best top-1 reported
    # Augmentation: random resized crop (scale 0.08 - 1, VWW 0.2 - 1; aspect 3/4 - 4/3), flip;
    # validation: short edge 256 / 224 of the crop, centre crop; ImageNet mean / std.
    train = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    test = {t.type: t for t in cfg.test_dataloader.dataset.pipeline}
    crop = train['RandomResizedCrop']
    assert crop.get('crop_ratio_range', (0.08, 1.0)) == ((0.2, 1.0) if '_vww-' in path else
                                                         (0.08, 1.0))
    assert crop.get('aspect_ratio_range', (3. / 4., 4. / 3.)) == (3. / 4., 4. / 3.)
    assert train['RandomFlip'].direction == 'horizontal' and train['RandomFlip'].prob == 0.5
    assert test['ResizeEdge'].scale == round(crop.scale * 256 / 224)
    assert test['CenterCrop'].crop_size == crop.scale
    assert cfg.data_preprocessor.mean == [123.675, 116.28, 103.53]
    assert cfg.data_preprocessor.std == [58.395, 57.12, 57.375]
    assert cfg.data_preprocessor.num_classes == cfg.model.head.num_classes

    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    num_classes = cfg.model.head.num_classes
    # 32 px is enough for every model but the DenseNet whose transition pools are RNNPools
    # (patch 4 on its stride-16 map).
    size = 64 if 'allpools' in path else 32
    images = torch.randn(2, 3, size, size)
    samples = [DataSample().set_gt_label(i % num_classes) for i in range(2)]
    losses = model(images, samples, mode='loss')
    loss = sum(losses.values())
    assert torch.isfinite(loss)
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    model.eval()
    with torch.no_grad():
        scores = model(images, mode='tensor')
    assert scores.shape == (2, num_classes) and torch.isfinite(scores).all()
