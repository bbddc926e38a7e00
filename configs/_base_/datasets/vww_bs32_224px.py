# Visual Wake Words (person / no person, from COCO 2014) for MMPretrain, 224 x 224, 32 a GPU.
# Layout under data_root (written by tools/dataset_converters/build_vww.py from a COCO folder,
# or by the mini VWW builder):
#   meta/train.txt, meta/val.txt   one "relative/image/path label" line an image, label
#                                  0 = no person, 1 = person; paths relative to data_root
# Recipe (paper Appendix G): random resized crop, scale 0.2 - 1 for VWW, aspect 3/4 - 4/3;
# horizontal flip; validation: resize the short edge to 256 / 224 of the crop, centre crop.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs32.py'

dataset_type = 'CustomDataset'
data_root = 'data/vww/'
vww_classes = ('no_person', 'person')

data_preprocessor = dict(num_classes=2)

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
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='',
        metainfo=dict(classes=vww_classes),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='',
        metainfo=dict(classes=vww_classes),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
