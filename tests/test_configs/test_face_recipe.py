"""The training recipe of every WIDER FACE config, rule by rule as docs/fidelity.md lists it
(paper where it says, release where it is silent): matching, loss, augmentation, schedule."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

ROOT = osp.join(osp.dirname(__file__), '..', '..')
RECIPES = sorted(glob.glob(osp.join(ROOT, 'configs', 'rnnpool_face', '*_1xb32-300e_*.py')))


@pytest.fixture(scope='module', params=RECIPES, ids=osp.basename)
def cfg(request):
    return Config.fromfile(request.param)


def test_five_variants():
    assert len(RECIPES) == 5


def test_matching_and_loss(cfg):
    head, train = cfg.model.bbox_head, cfg.model.train_cfg
    assert head.anchor_generator.type == 'CellCenteredAnchorGenerator'
    assert head.anchor_generator.ratios == [1.0] and head.anchor_generator.scales == [1.0]
    assert head.bbox_coder.type == 'DeltaXYWHBBoxCoder'
    assert head.bbox_coder.target_means == [0.] * 4
    assert head.bbox_coder.target_stds == [0.1, 0.1, 0.2, 0.2]
    assert head.num_max_out == 3 and tuple(head.max_out_levels) == (0, )
    assigner = train.assigner
    assert assigner.type == 'S3FDAssigner'
    assert (assigner.pos_iou_thr, assigner.neg_iou_thr) == (0.35, 0.35)
    assert (assigner.compensation, assigner.compensate_iou_thr,
            assigner.compensate_count_thr) == ('release', 0.1, 0.5)
    assert train.neg_pos_ratio == 3 and train.smoothl1_beta == 1.
    assert train.sampler.type == 'PseudoSampler'


def _train_transforms(cfg):
    return cfg.train_dataloader.dataset.pipeline


def test_augmentation(cfg):
    pipeline = _train_transforms(cfg)
    types = [t.type for t in pipeline]
    assert 'Expand' not in types and 'MinIoURandomCrop' not in types  # no zoom-out
    assert 'PhotoMetricDistortion' not in types  # mmdet's permutes channels
    distortion = pipeline[types.index('ImageEnhanceDistortion')]
    assert tuple(distortion.brightness_range) == (0.875, 1.125)
    assert tuple(distortion.contrast_range) == tuple(distortion.saturation_range) == (0.5, 1.5)
    assert distortion.hue_delta == 18 and distortion.prob == 0.5
    choice = pipeline[types.index('RandomChoice')]
    assert choice.get('prob') is None  # DAS or the zoom-in crop, evenly
    (das, ), (zoom, ) = choice.transforms
    assert das.type == 'DataAnchorSampling' and zoom.type == 'ZoomInRandomCrop'
    assert zoom.min_scale == 0.3
    # The release drops faces of 36 px^2 or less in its 640 x 640 crops, 1 px^2 in QVGA ones.
    min_gt_area = 1 if 'qvga' in cfg.filename else 36
    # The crops pad with the BGR mean and draw their resize interpolation at random.
    from mmdet.registry import TRANSFORMS
    import mmdet_rnnpool.datasets  # noqa: F401  (registers the crops)
    for crop in (das, zoom):
        built = TRANSFORMS.build(crop)
        assert tuple(built.pad_val) == (104, 117, 123) and built.random_interpolation
        assert built.min_gt_area == min_gt_area
    flip = pipeline[types.index('RandomFlip')]
    assert flip.prob == 0.5
    assert types.index('ImageEnhanceDistortion') < types.index('RandomChoice') < \
        types.index('RandomFlip')
    assert cfg.train_dataloader.dataset.get('invalid_faces', 'face') == 'face'


def test_crop_sizes(cfg):
    choice = [t for t in _train_transforms(cfg) if t.type == 'RandomChoice'][0]
    (das, ), (zoom, ) = choice.transforms
    if 'qvga' in cfg.filename:
        assert das.crop_size == zoom.crop_size == (320, 240)
        assert tuple(das.anchor_sizes) == (8, 16, 32, 48)
        assert cfg.model.bbox_head.anchor_generator.base_sizes == [8, 16, 32, 48]
    else:
        assert das.crop_size == zoom.crop_size == 640
        assert tuple(das.anchor_sizes) == (16, 32, 64, 128, 256, 512)


def test_single_scale_test_at_the_area_of_640_x_480(cfg):
    resize = [t for t in cfg.test_dataloader.dataset.pipeline if t.type == 'ResizeToArea']
    area = 320 * 240 if 'qvga' in cfg.filename else 640 * 480
    assert len(resize) == 1 and resize[0].area == area


@pytest.mark.filterwarnings('ignore:Detected call of .scheduler.step')
def test_optimiser_and_schedule(cfg):
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import PARAM_SCHEDULERS
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.train_cfg.max_epochs == 300
    optimizer = cfg.optim_wrapper.optimizer
    # The paper's weight decay (the release's default is 5e-4).
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == ('SGD', 0.01, 0.9, 4e-5)
    # The learning rate per iteration: linear warm-up over 5 epochs, cosine to 0 at 300.
    epoch_length = 4
    wrapper = build_optim_wrapper(torch.nn.Linear(1, 1), cfg.optim_wrapper)
    schedulers = []
    for scheduler in cfg.param_scheduler:
        assert scheduler.convert_to_iter_based is True  # updated per iteration
        schedulers.append(PARAM_SCHEDULERS.build(
            scheduler, default_args=dict(optimizer=wrapper, epoch_length=epoch_length)))
    lrs = []
    for _ in range(300 * epoch_length):
        lrs.append(wrapper.optimizer.param_groups[0]['lr'])
        wrapper.optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    assert lrs[0] == pytest.approx(1e-5)
    assert max(lrs) == pytest.approx(0.01)
    assert lrs[5 * epoch_length] == pytest.approx(0.01)
    assert lrs[(5 + 295 // 2) * epoch_length] == pytest.approx(0.005, rel=0.02)
    assert lrs[-1] < 1e-6


def test_best_checkpoint_by_hard_ap(cfg):
    checkpoint = cfg.default_hooks.checkpoint
    assert checkpoint.save_best == 'widerface/hard' and checkpoint.rule == 'greater'
