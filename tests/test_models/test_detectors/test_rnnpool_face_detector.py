"""The RNNPool face detectors end to end: loss, predict, ONNX export and the image demo."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import mmdet_rnnpool  # noqa: F401  (compat fixes)
import mmdet_rnnpool.datasets  # noqa: F401  (the test dataset, for init_detector's metainfo)
import mmdet_rnnpool.models  # noqa: F401  (registers the detector parts)

ROOT = osp.join(osp.dirname(__file__), '..', '..', '..')
CONFIGS = osp.join(ROOT, 'configs', 'rnnpool_face')
QUANT = osp.join(CONFIGS, 'rnnpool-face-quant_1xb32-300e_widerface.py')
M4 = osp.join(CONFIGS, 'rnnpool-face-m4_1xb32-300e_widerface-qvga-gray.py')


def _build(config: str):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    return model


def _samples(height: int, width: int, boxes):
    from mmdet.structures import DetDataSample
    sample = DetDataSample(metainfo=dict(
        img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width),
        scale_factor=(1., 1.), batch_input_shape=(height, width)))
    boxes = torch.tensor(boxes, dtype=torch.float32).view(-1, 4)
    sample.gt_instances = InstanceData(bboxes=boxes,
                                       labels=torch.zeros(len(boxes), dtype=torch.long))
    return [sample]


def _tool(*parts: str):
    path = osp.join(ROOT, 'tools', *parts)
    spec = importlib.util.spec_from_file_location(osp.splitext(parts[-1])[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _checkpoint(config: str, path) -> str:
    model = _build(config)
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': ('face', )}}}, str(path))
    return str(path)


def test_loss_through_the_detector():
    model = _build(QUANT).train()
    inputs = torch.rand(1, 3, 128, 160)
    losses = model.loss(inputs, _samples(128, 160, [[40., 30., 72., 70.]]))
    assert set(losses) == {'loss_cls', 'loss_bbox'}
    total = sum(sum(v) for v in losses.values())
    assert total.item() > 0 and torch.isfinite(total)
    total.backward()
    assert model.backbone.rnnpool.rnn1.W.grad.abs().sum() > 0


@pytest.mark.parametrize('config, shape', [(QUANT, (3, 96, 128)), (M4, (1, 96, 128))])
def test_predict_path(config, shape):
    model = _build(config).eval()
    with torch.no_grad():
        results = model.predict(torch.rand(1, *shape), _samples(*shape[1:], []), rescale=True)
    pred = results[0].pred_instances
    assert pred.bboxes.shape[1] == 4
    assert len(pred.bboxes) == len(pred.scores) == len(pred.labels) > 0
    assert (pred.labels == 0).all()
    assert ((pred.scores >= 0) & (pred.scores <= 1)).all()


def test_onnx_export_matches_pytorch(tmp_path, capsys, monkeypatch):
    pytest.importorskip('onnxruntime')
    tool = _tool('deployment', 'pytorch2onnx.py')
    checkpoint = _checkpoint(M4, tmp_path / 'm4.pth')
    out = tmp_path / 'm4.onnx'
    args = [M4, checkpoint, '--out', str(out), '--shape', '96', '128', '--no-optimize']
    assert tool.main(args) == 0
    assert 'max abs diff' in capsys.readouterr().out
    import onnxruntime as ort
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    assert [i.name for i in session.get_inputs()] == ['image']
    assert [o.name for o in session.get_outputs()] == \
        [f'cls_score_{i}' for i in range(4)] + [f'bbox_pred_{i}' for i in range(4)]
    outs = session.run(None, {'image': np.zeros((1, 1, 96, 128), np.float32)})
    # Strides 8, 8, 16, 16 on 96 x 128; face + background scores after the max-out.
    assert [o.shape for o in outs[:4]] == [(1, 2, 12, 16), (1, 2, 12, 16), (1, 2, 6, 8),
                                           (1, 2, 6, 8)]
    # A mismatch beyond the tolerance is an error exit.
    monkeypatch.setattr(tool, 'export', lambda layers, inputs, out_file, opset, optimize: [
        f'cls_score_{i}' for i in range(4)] + [f'bbox_pred_{i}' for i in range(4)])
    monkeypatch.setattr(tool, 'compare', lambda out_file, layers, inputs, names: [0.] * 7 + [1.])
    assert tool.main(args) == 1
    assert 'bbox_pred_3 differs' in capsys.readouterr().err


def test_onnx_export_of_a_photograph_is_finite(tmp_path, capsys):
    """Face-Quant on scikit-image's astronaut (real-image statistics, 240 x 320): every output
    of onnxruntime is finite and matches PyTorch. Its first source is 4 ReLU channels, all zero
    at many positions, where L2Norm's eps is all that keeps 0 / 0 away (compat fix 5)."""
    pytest.importorskip('onnxruntime')
    skimage_data = pytest.importorskip('skimage.data')
    import mmcv
    tool = _tool('deployment', 'pytorch2onnx.py')
    torch.manual_seed(0)
    checkpoint = _checkpoint(QUANT, tmp_path / 'quant.pth')
    photo = str(tmp_path / 'astronaut.png')
    mmcv.imwrite(skimage_data.astronaut()[..., ::-1], photo)  # RGB -> BGR file
    out = tmp_path / 'quant.onnx'
    assert tool.main([QUANT, checkpoint, '--out', str(out), '--shape', '240', '320',
                      '--image', photo]) == 0, capsys.readouterr().err
    import onnxruntime as ort
    from mmdet_rnnpool.models.utils import image_to_input
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    model = tool.init_detector_checked(QUANT, checkpoint)
    inputs = image_to_input(model, photo, (240, 320))
    outs = session.run(None, {'image': inputs.numpy()})
    assert all(np.isfinite(o).all() for o in outs)
    # the case the fix is for occurs: all-zero vectors at the first L2Norm's input
    from mmdet.models.necks.ssd_neck import L2Norm
    l2norm = next(m for m in model.backbone.modules() if isinstance(m, L2Norm))
    seen = []
    handle = l2norm.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    with torch.no_grad():
        model.backbone(inputs)
    handle.remove()
    assert (seen[0].abs().sum(1) == 0).any()


def test_onnx_check_fails_on_non_finite_output(tmp_path, capsys, monkeypatch):
    """A NaN in an output is an error exit naming the output (a NaN passes every '<' test)."""
    pytest.importorskip('onnxruntime')
    tool = _tool('deployment', 'pytorch2onnx.py')
    checkpoint = _checkpoint(M4, tmp_path / 'm4.pth')
    import onnxruntime as ort
    real_session = ort.InferenceSession

    class NaNSession:
        def __init__(self, *args, **kwargs):
            self.session = real_session(*args, **kwargs)

        def run(self, *args, **kwargs):
            outs = self.session.run(*args, **kwargs)
            outs[0][0, 0, 0, 0] = np.nan
            return outs

    monkeypatch.setattr(ort, 'InferenceSession', NaNSession)
    args = [M4, checkpoint, '--out', str(tmp_path / 'm4.onnx'), '--shape', '96', '128',
            '--no-optimize']
    assert tool.main(args) == 1
    err = capsys.readouterr().err
    assert 'onnxruntime output cls_score_0: 1 of' in err and 'NaN' in err


@pytest.mark.slow
def test_onnx_export_raw_head(tmp_path):
    pytest.importorskip('onnxruntime')
    import onnxruntime as ort
    tool = _tool('deployment', 'pytorch2onnx.py')
    checkpoint = _checkpoint(QUANT, tmp_path / 'quant.pth')
    out = tmp_path / 'quant.onnx'
    assert tool.main([QUANT, checkpoint, '--out', str(out), '--shape', '64', '96', '--raw']) == 0
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    outs = session.run(['cls_score_0', 'cls_score_1'],
                       {'image': np.zeros((1, 3, 64, 96), np.float32)})
    # --raw keeps the 1 + 3 max-out channels of level 0 (stride 4).
    assert [o.shape for o in outs] == [(1, 4, 16, 24), (1, 2, 8, 12)]


def test_image_demo_draws_boxes(tmp_path):
    import mmcv
    tool = _tool('image_demo.py')
    checkpoint = _checkpoint(QUANT, tmp_path / 'quant.pth')
    image = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    img_path = str(tmp_path / 'img.jpg')
    mmcv.imwrite(image, img_path)
    out_file = tmp_path / 'out' / 'drawn.jpg'
    # Threshold 0: every detection is drawn, in the original image's coordinates.
    kept = tool.main([img_path, QUANT, checkpoint, '--out-file', str(out_file),
                      '--score-thr', '0'])
    assert kept and out_file.is_file()
    drawn = mmcv.imread(str(out_file))
    assert drawn.shape == image.shape
    boxes = np.array([k[:4] for k in kept])
    assert (boxes[:, [0, 2]] <= 120 + 1e-3).all() and (boxes[:, [1, 3]] <= 90 + 1e-3).all()


@pytest.mark.slow
def test_overfits_one_face_and_detects_it():
    """A few optimiser steps on one image: the loss falls and the best box finds the face."""
    from mmdet.structures.bbox import bbox_overlaps
    torch.manual_seed(0)
    model = _build(M4)
    height, width = 96, 128
    face = [48., 32., 80., 64.]
    image = torch.rand(1, 1, height, width) * 0.2
    image[..., 32:64, 48:80] += 0.8  # a bright 32 x 32 square on a dark, noisy background
    samples = _samples(height, width, [face])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    history = []
    for _ in range(30):
        losses = model.loss(image, samples)
        total = sum(sum(v) for v in losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert np.mean(history[-5:]) < 0.3 * np.mean(history[:5])
    model.eval()
    with torch.no_grad():
        pred = model.predict(image, _samples(height, width, []), rescale=True)[0].pred_instances
    best = pred.bboxes[pred.scores.argmax()][None]
    assert bbox_overlaps(best, torch.tensor([face])).item() > 0.5


def test_det_inferencer_runs(tmp_path):
    """mmdet's DetInferencer (no torchvision needed) on a config + checkpoint of ours."""
    import mmcv
    from mmdet.apis import DetInferencer
    checkpoint = _checkpoint(M4, tmp_path / 'm4.pth')
    image = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    img_path = str(tmp_path / 'img.jpg')
    mmcv.imwrite(image, img_path)
    inferencer = DetInferencer(model=M4, weights=checkpoint, device='cpu', show_progress=False)
    out = inferencer(img_path, out_dir=str(tmp_path / 'vis'), no_save_pred=True,
                     return_datasamples=True)
    pred = out['predictions'][0].pred_instances
    assert len(pred.bboxes) > 0 and pred.bboxes.shape[1] == 4
    assert (tmp_path / 'vis' / 'vis' / 'img.jpg').is_file()
