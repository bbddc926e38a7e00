"""Every face config's anchors sit on their cells: cell (i, j) at ((j + 0.5) s, (i + 0.5) s)."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import mmdet_rnnpool  # noqa: F401  (registers the generator)
from mmdet.registry import TASK_UTILS

from mmdet_rnnpool.models.dense_heads import S3FDHead
from mmdet_rnnpool.models.task_modules import CellCenteredAnchorGenerator

ROOT = osp.join(osp.dirname(__file__), '..', '..', '..', '..')
FACE_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'rnnpool_face', '*.py')))


def _check_cell_centres(generator, base_sizes, image_hw):
    height, width = image_hw
    sizes = [(math.ceil(height / s[1]), math.ceil(width / s[0])) for s in generator.strides]
    priors = generator.grid_priors(sizes, device='cpu')
    for level, ((fh, fw), (sx, sy), anchors) in enumerate(zip(sizes, generator.strides,
                                                               priors)):
        assert anchors.shape == (fh * fw, 4), level
        for i, j in [(0, 0), (fh // 2, fw // 2), (fh - 1, fw - 1)]:
            x1, y1, x2, y2 = anchors[i * fw + j].tolist()  # row-major, one anchor per cell
            where = f'level {level} (stride {sx}), cell ({i}, {j})'
            assert (x1 + x2) / 2 == pytest.approx((j + 0.5) * sx), where
            assert (y1 + y2) / 2 == pytest.approx((i + 0.5) * sy), where
            assert x2 - x1 == pytest.approx(base_sizes[level]), where
            assert y2 - y1 == pytest.approx(base_sizes[level]), where


def test_every_face_config_has_five_variants_and_the_demo():
    names = {osp.basename(p).split('_')[0] for p in FACE_CONFIGS}
    assert {'rnnpool-face-a', 'rnnpool-face-b', 'rnnpool-face-c', 'rnnpool-face-quant',
            'rnnpool-face-m4'} <= names


@pytest.mark.parametrize('config', FACE_CONFIGS, ids=osp.basename)
def test_config_anchors_on_cell_centres(config):
    head = Config.fromfile(config).model.bbox_head
    generator = TASK_UTILS.build(head.anchor_generator)
    assert isinstance(generator, CellCenteredAnchorGenerator)
    image_hw = (240, 320) if 'qvga' in config else (480, 640)
    _check_cell_centres(generator, head.anchor_generator.base_sizes, image_hw)


def test_head_default_anchors_on_cell_centres():
    head = S3FDHead()
    _check_cell_centres(head.prior_generator, [16, 32, 64, 128, 256, 512], (480, 640))


def test_rectangular_strides_and_several_anchors():
    generator = CellCenteredAnchorGenerator(strides=[(4, 8)], base_sizes=[16],
                                            ratios=[0.5, 1.0], scales=[1.0])
    anchors = generator.single_level_grid_priors((3, 5), level_idx=0, device='cpu').view(
        3, 5, 2, 4)
    centres = (anchors[..., :2] + anchors[..., 2:]) / 2
    expected_x = (torch.arange(5) + 0.5) * 4
    expected_y = (torch.arange(3) + 0.5) * 8
    torch.testing.assert_close(centres[..., 0], expected_x.view(1, 5, 1).expand(3, 5, 2))
    torch.testing.assert_close(centres[..., 1], expected_y.view(3, 1, 1).expand(3, 5, 2))


@pytest.mark.parametrize('key', ['center_offset', 'centers'])
def test_centre_arguments_refused(key):
    with pytest.raises(ValueError, match=f'CellCenteredAnchorGenerator: {key!r}'):
        CellCenteredAnchorGenerator(strides=[4], base_sizes=[16], ratios=[1.0], scales=[1.0],
                                    **{key: 0.5 if key == 'center_offset' else [(2, 2)]})
