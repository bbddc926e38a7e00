# RNNPool-Face-M4 fine-tuned on SCUT-HEAD after WIDER FACE (paper Table 5: AP 0.58 at IoU 0.5;
# MobileNetV2-SSDLite 0.63). The model, its QVGA grey training pipeline and the schedule are
# the WIDER FACE M4 config's; only the data, the batch and the starting weights change.
# - Data: SCUT-HEAD in its released VOC layout under data_root (SCUT_HEAD_Part_A/,
#   SCUT_HEAD_Part_B/). Like the authors' release we use Part B; as mmdet's VOC configs we
#   train on its trainval list and validate / test on its test list (the release drew its
#   own split of Part B). Both parts: a ConcatDataset of two SCUTHeadDataset dicts.
# - Start: the WIDER FACE M4 checkpoint (load_from; WIDER_M4_CHECKPOINT=... or
#   --cfg-options load_from=...), then the release's fine-tuning run: batch 64, the same
#   SGD / warm-up / cosine schedule, 300 epochs.
# - Test: as the release's SCUT test, each image shrunk to the area of 320 x 240 (never
#   enlarged), grey, detections with score >= 0.05; VOC AP at IoU 0.5 (mmdet's VOCMetric, area
#   under the interpolated PR curve, which is what the release's evaluation computes).
_base_ = './rnnpool-face-m4_1xb32-300e_widerface-qvga-gray.py'

dataset_type = 'SCUTHeadDataset'
data_root = '{{$SCUT_HEAD_ROOT:data/SCUT_HEAD/}}'
scut_part = 'SCUT_HEAD_Part_B/'
load_from = '{{$WIDER_M4_CHECKPOINT:work_dirs/rnnpool-face-m4_1xb32-300e_widerface-qvga-gray/epoch_300.pth}}'

scut_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeToArea', area=320 * 240, allow_upscale=False),
    dict(type='ToGray'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(
    batch_size=64,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file=scut_part + 'ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root=scut_part),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file=scut_part + 'ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root=scut_part),
        test_mode=True,
        pipeline=scut_test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(_delete_=True, type='VOCMetric', metric='mAP', iou_thrs=0.5,
                     eval_mode='area')
test_evaluator = val_evaluator

model = dict(test_cfg=dict(score_thr=0.05))
# The multi-scale test is WIDER FACE's; SCUT-HEAD is tested at one scale, as released.
tta_model = None
tta_pipeline = None

# Keep the best checkpoint by the metric this config reports (the WIDER FACE parent keeps the
# best WIDER hard AP, which a VOC evaluation does not produce).
default_hooks = dict(checkpoint=dict(save_best='pascal_voc/AP50', rule='greater'))
