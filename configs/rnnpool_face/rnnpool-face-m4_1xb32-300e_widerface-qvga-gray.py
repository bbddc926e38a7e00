# RNNPool-Face-M4 (paper Table 5: 70M MAdds, 188 KB int8 peak RAM, QVGA 320x240 monochrome;
# 10.45 s per image on a Cortex-M4): a 3x3 stride-2 conv to 4 channels, RNNPool (8x8
# patches, stride 4, h1 = h2 = 16: 64 channels at stride 8), four MBConv blocks with
# expansion 2, a detection head after each.
# Choices where the paper is silent:
# - Anchors (the release's QVGA model): the heads sit at strides 8, 8, 16, 16 (40x30, 40x30,
#   20x15, 20x15 maps) with square anchors of 8, 16, 32, 48 px on the 320x240 frame, each
#   centred on its cell, with the max-out background on the 8 px level.
# - Sparse (50% / 30% non-zero) RNN weights and int8 quantisation are applied after training
#   by the MCU exporter; this config trains the dense float model on WIDER FACE (the paper then
#   fine-tunes on SCUT-HEAD).
_base_ = [
    '../_base_/models/rnnpool_s3fd.py', '../_base_/datasets/wider_face_qvga_gray.py',
    '../_base_/schedules/sgd_cosine_300e.py', '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmdet_rnnpool'], allow_failed_imports=False)

model = dict(
    # One grey channel: the release feeds 0.299 R + 0.587 G + 0.114 B of the mean-subtracted
    # image, i.e. the grey image (ToGray, the same weights) minus the grey of the mean
    # (123, 117, 104): 0.299 * 123 + 0.587 * 117 + 0.114 * 104 = 117.312; no std.
    data_preprocessor=dict(mean=[117.312], std=[1.], bgr_to_rgb=False),
    backbone=dict(
        in_channels=1,
        stem=[dict(out_channels=4, kernel_size=3, stride=2)],  # 160x120, stride 2
        rnnpool=dict(hidden_channels=(16, 16)),  # 40x30x64, stride 8
        stages=[
            dict(type='bottleneck', t=2, c=32, n=1, s=1),  # 0: 40x30 -> head
            dict(type='bottleneck', t=2, c=32, n=1, s=1),  # 1: 40x30 -> head
            dict(type='bottleneck', t=2, c=64, n=1, s=2),  # 2: 20x15 -> head
            dict(type='bottleneck', t=2, c=64, n=1, s=1),  # 3: 20x15 -> head
        ],
        out_indices=(0, 1, 2, 3)),
    bbox_head=dict(
        in_channels=(32, 32, 64, 64),
        kernel_sizes=3,  # the release's Face-M4 heads are 3x3
        anchor_generator=dict(strides=[8, 8, 16, 16], base_sizes=[8, 16, 32, 48])))
