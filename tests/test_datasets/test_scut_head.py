"""SCUT-HEAD in its released VOC layout: the mini generator, strict XML reading, VOC AP at
IoU 0.5 and a fine-tuning smoke run through tools/train.py."""
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

import mmdet_rnnpool  # noqa: F401  (registration)
from mmdet_rnnpool.datasets import MiniWiderConfig, SCUTHeadDataset, build_mini_scut_head

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCUT_CONFIG = osp.join(REPO, 'configs', 'rnnpool_face',
                       'rnnpool-face-m4_1xb64-300e_scut-head-qvga-gray.py')
SMALL = MiniWiderConfig(min_face=16, max_face=80, image_width=(240, 320), aspect=(0.75, 0.75),
                        max_faces_per_image=3, empty_prob=0.0)

XML = """<annotation>
  <filename>{id}.jpg</filename>
  {size}
  <object><name>person</name><difficult>0</difficult>
    <bndbox><xmin>11</xmin><ymin>21</ymin><xmax>40</xmax><ymax>60</ymax></bndbox></object>
  <object><name>person</name><difficult>1</difficult>
    <bndbox><xmin>51</xmin><ymin>21</ymin><xmax>70</xmax><ymax>40</ymax></bndbox></object>
  <object><name>person</name>
    <bndbox><xmin>81</xmin><ymin>21</ymin><xmax>81</xmax><ymax>40</ymax></bndbox></object>
  <object><name>dog</name>
    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object>
</annotation>
"""


@pytest.fixture(scope='module')
def mini_scut(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('scut')) + '/'
    counts = build_mini_scut_head(root, seed=0, num_images=5, cfg=SMALL)
    return root, counts


def _dataset(root, split='trainval', part='B', **kwargs):
    return SCUTHeadDataset(data_root=root, ann_file=f'SCUT_HEAD_Part_{part}/ImageSets/Main/'
                           f'{split}.txt', data_prefix=dict(sub_data_root=f'SCUT_HEAD_Part_{part}/'),
                           pipeline=[], **kwargs)


def test_generator_writes_the_released_layout(mini_scut):
    root, counts = mini_scut
    assert counts == {p: dict(train=3, val=1, test=1, trainval=4) for p in 'AB'}
    for part in 'AB':
        base = osp.join(root, f'SCUT_HEAD_Part_{part}')
        ids = open(osp.join(base, 'ImageSets', 'Main', 'trainval.txt')).read().split()
        assert ids == [f'Part{part}_{i:05d}' for i in range(4)]
        for image_id in ids:
            assert cv2.imread(osp.join(base, 'JPEGImages', f'{image_id}.jpg')) is not None
            assert osp.isfile(osp.join(base, 'Annotations', f'{image_id}.xml'))
    dataset = _dataset(root)
    assert len(dataset) == 4 and dataset.metainfo['classes'] == ('person', )
    info = dataset.get_data_info(0)
    img = cv2.imread(info['img_path'])
    assert (info['height'], info['width']) == img.shape[:2]
    boxes = np.array([inst['bbox'] for inst in info['instances']])
    assert len(boxes) >= 1 and (boxes[:, 2:] > boxes[:, :2]).all()
    assert (boxes[:, 2] < info['width']).all() and (boxes[:, 3] < info['height']).all()


def _write_part(tmp_path, xml_text, image_id='PartB_00000', size=(100, 120)):
    base = tmp_path / 'SCUT_HEAD_Part_B'
    for sub in ('JPEGImages', 'Annotations', 'ImageSets/Main'):
        (base / sub).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(base / 'JPEGImages' / f'{image_id}.jpg'), np.zeros(size + (3, ), np.uint8))
    (base / 'Annotations' / f'{image_id}.xml').write_text(xml_text)
    (base / 'ImageSets' / 'Main' / 'test.txt').write_text(f'{image_id}\n')
    return str(tmp_path) + '/', str(base / 'Annotations' / f'{image_id}.xml')


def test_hand_written_annotation(tmp_path):
    size = '<size><width>120</width><height>100</height><depth>3</depth></size>'
    root, _ = _write_part(tmp_path, XML.format(id='PartB_00000', size=size))
    info = _dataset(root, 'test').get_data_info(0)
    assert (info['height'], info['width']) == (100, 120)
    # VOC 1-based -> mmdet's 0-based (minus 1); difficult and degenerate heads are ignored;
    # other classes are skipped
    assert [(i['bbox'], i['ignore_flag']) for i in info['instances']] == [
        ([10., 20., 39., 59.], 0), ([50., 20., 69., 39.], 1), ([80., 20., 80., 39.], 1)]
    # without <size>, the image header gives it
    root, _ = _write_part(tmp_path, XML.format(id='PartB_00000', size=''), size=(90, 130))
    info = _dataset(root, 'test').get_data_info(0)
    assert (info['height'], info['width']) == (90, 130)


@pytest.mark.parametrize('xml_text, message', [
    ('<annotation><object><name>person</name>\n<bndbox><xmin>1</xmin></bndbox>'
     '</annotation>', r'not well-formed XML \(mismatched tag: line 2'),
    ('<annotation><object><name>person</name><bndbox><xmin>1</xmin><ymin>1</ymin>'
     '<xmax>5</xmax></bndbox></object></annotation>', r'object 1 <bndbox> has no <ymax>'),
    ('<annotation><object><name>person</name><bndbox><xmin>1</xmin><ymin>1</ymin>'
     '<xmax>five</xmax><ymax>5</ymax></bndbox></object></annotation>',
     r"<xmax> is not a number: 'five'"),
    ('<annotation><object><name>person</name></object></annotation>',
     r'object 1 \(person\) has no <bndbox>'),
    ('<annotation><object><bndbox/></object></annotation>', r'object 1 has no <name>'),
    ('<voc/>', r'the root element is <voc>'),
])
def test_malformed_xml_is_one_error_naming_the_file(tmp_path, xml_text, message):
    root, xml_path = _write_part(tmp_path, xml_text)
    with pytest.raises(ValueError, match=message) as err:
        _dataset(root, 'test')
    assert str(err.value).startswith(xml_path + ': ') and '\n' not in str(err.value)


def _run(args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable] + args, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=1200)


def test_malformed_xml_through_tools_train(tmp_path):
    root, xml_path = _write_part(tmp_path, '<annotation><object>')
    (tmp_path / 'SCUT_HEAD_Part_B' / 'ImageSets' / 'Main' / 'trainval.txt').write_text(
        'PartB_00000\n')
    # no WIDER FACE checkpoint to start from here: the XML must be what stops the run
    result = _run(['tools/train.py', SCUT_CONFIG, '--work-dir', str(tmp_path / 'w'),
                   '--cfg-options', f'data_root={root}', 'load_from=None',
                   'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False'])
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'Traceback' not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert xml_path in result.stderr and 'not well-formed XML' in result.stderr


def test_voc_ap_at_iou_05(mini_scut):
    """The config's test pipeline and VOCMetric: ground truth as predictions gives AP 1,
    boxes moved below IoU 0.5 give AP 0."""
    from mmdet.registry import DATASETS
    from mmengine.config import Config
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope
    from mmengine.structures import InstanceData

    from mmdet_rnnpool.utils.config_utils import load_config
    root, _ = mini_scut
    cfg = load_config(SCUT_CONFIG, dict(data_root=root))
    assert isinstance(cfg, Config)
    dataset_cfg = cfg.test_dataloader.dataset
    assert dataset_cfg.ann_file.endswith('SCUT_HEAD_Part_B/ImageSets/Main/test.txt')
    dataset_cfg.ann_file = dataset_cfg.ann_file.replace('test.txt', 'trainval.txt')
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(dataset_cfg)
        evaluators = {shift: Evaluator(cfg.test_evaluator) for shift in (0.0, 0.6)}
    for shift, evaluator in evaluators.items():
        evaluator.dataset_meta = dataset.metainfo
        for i in range(len(dataset)):
            sample = dataset[i]['data_samples']
            assert sample.img_shape[0] * sample.img_shape[1] <= 320 * 240 + 320
            gt = sample.gt_instances.bboxes.tensor.clone()
            gt[:, 0::2] += shift * (gt[:, 2] - gt[:, 0])[:, None]  # IoU 0.25 at 0.6
            sample.pred_instances = InstanceData(
                bboxes=gt, scores=torch.linspace(0.9, 0.5, len(gt)),
                labels=torch.zeros(len(gt), dtype=torch.long))
            evaluator.process([sample])
        results = evaluator.evaluate(len(dataset))
        assert results['pascal_voc/AP50'] == (1.0 if shift == 0 else 0.0), results


def test_fine_tuning_smoke_run(tmp_path, mini_scut):
    """Two iterations of the fine-tuning config through tools/train.py, starting from a
    WIDER FACE M4 checkpoint (load_from), then VOC AP on the test list."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    root, _ = mini_scut
    wider_m4 = osp.join(REPO, 'configs', 'rnnpool_face',
                        'rnnpool-face-m4_1xb32-300e_widerface-qvga-gray.py')
    model = MODELS.build(Config.fromfile(wider_m4).model)
    state = model.state_dict()
    first_conv = next(k for k, v in state.items() if v.ndim == 4)
    state[first_conv].fill_(0.0123)  # a mark the fine-tuned weights must still carry
    checkpoint = str(tmp_path / 'wider_m4.pth')
    torch.save({'state_dict': state, 'meta': {}}, checkpoint)
    work = tmp_path / 'work'
    result = _run([
        'tools/train.py', SCUT_CONFIG, '--work-dir', str(work), '--cfg-options',
        f'data_root={root}', f'load_from={checkpoint}', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1', 'randomness.seed=0'
    ])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert f'Load checkpoint from {checkpoint}' in out
    assert 'Epoch(train) [1][2/2]' in out and 'pascal_voc/AP50' in out
    # the best checkpoint is kept by the VOC AP this config reports
    assert list(work.glob('best_pascal_voc_AP50_epoch_1.pth')), sorted(p.name for p in work.iterdir())
    trained = torch.load(str(work / 'epoch_1.pth'), map_location='cpu',
                         weights_only=False)['state_dict']
    # two small steps move the marked weights a little; a fresh initialisation is far off
    assert (trained[first_conv] - 0.0123).abs().mean() < 0.02
    fresh = MODELS.build(Config.fromfile(wider_m4).model).state_dict()[first_conv]
    assert (fresh - 0.0123).abs().mean() > 0.1
    # every weight finite, except FastGRNN's fixed factors: zeta / nu buffers at +inf / -inf
    # (sigmoid exactly 1 and 0, ops/cells.py), which training must leave untouched
    fixed = {k: v for k, v in trained.items() if k.endswith(('.zeta', '.nu'))}
    assert fixed and all(v.isinf().all() for v in fixed.values())
    assert all(torch.isfinite(v).all() for k, v in trained.items()
               if v.is_floating_point() and k not in fixed)
