# Visual Wake Words (person / no person, COCO 2014: minival evaluates, the other ~115 K
# train2014 + val2014 images train), as written by
#   python tools/dataset_converters/build_visual_wake_words.py COCO_ROOT \
#       --minival-ids mscoco_minival_ids.txt --out data/vww
#   <data_root>/meta/{train,minival}.txt   "train2014/COCO_train2014_<id>.jpg <label>"
#   <data_root>/{train,val}2014            links to the COCO image folders
# Read by MMPretrain's own CustomDataset. Point a config at another copy (e.g. the mini set of
# build_mini_vww.py) with VWW_ROOT=data/mini_vww/ or --cfg-options data_root=data/mini_vww/.
#
# The paper's recipe (Appendix G) at 224 px: random resized crop over 20-100 % of the image
# area (VWW; ImageNet uses 8-100 %), aspect 3/4-4/3, horizontal flip, mean / std
# normalisation; validation resizes the short side to 256 and centre-crops 224. Batch 256.
dataset_type = 'CustomDataset'
data_root = '{{$VWW_ROOT:data/vww/}}'
vww_classes = ('no_person', 'person')
img_size = 224

data_preprocessor = dict(
    num_classes=2,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)  # images load as BGR

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0),
         aspect_ratio_range=(3. / 4., 4. / 3.)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='',
        metainfo=dict(classes=vww_classes),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/minival.txt',
        data_prefix='',
        metainfo=dict(classes=vww_classes),
        pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
