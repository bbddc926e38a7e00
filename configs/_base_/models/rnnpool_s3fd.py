# RNNPool + S3FD face detector (Saha et al., NeurIPS 2020, Sec. 5.2). The defaults here are
# RNNPool-Face-C, the paper's full model; each variant in configs/rnnpool_face/ overrides the
# backbone spec (and, where its levels differ, the head).
model = dict(
    type='SingleStageDetector',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        # The authors' release: RGB minus its mean (123, 117, 104), no division by a std (the
        # paper is silent). See docs/fidelity.md, "network details".
        mean=[123., 117., 104.],
        std=[1., 1., 1.],
        bgr_to_rgb=True,
        pad_size_divisor=1),
    backbone=dict(
        type='RNNPoolS3FD',
        in_channels=3,
        stem=[],
        # 8x8 patches, stride 4 (the authors' release, for every face model); h1 = h2 = 16
        # gives the table's 64 channels (= 4 * h2).
        rnnpool=dict(
            type='RNNPool',
            hidden_channels=(16, 16),
            kernel_size=8,
            stride=4,
            padding=0,
            cell='fastgrnn',
            nonlinearity='standard',
            # FastGRNN: sigmoid(zeta) = 1, sigmoid(nu) = 0 fixed (paper and release); gate and
            # update biases start at 1 (release).
            cell_cfg=dict(bias_init=1.0, learn_zeta_nu=False)),
        # One replicated row / column after RNNPool: 640x480 -> 159x119 patches -> 160x120.
        replicate_pad=True,
        # Table "RNNPool-Face-C": t / c / n / s of the bottleneck stacks after RNNPool. The
        # release builds the first block with expansion 1 (first_t=1 in the first stack); the
        # paper's table says 6, and its 1.80G MAdds agree with 6 (1 would give ~1.2G): we keep
        # the paper's.
        stages=[
            dict(type='bottleneck', t=6, c=24, n=2, s=1),  # 160x120, stride 4
            dict(type='bottleneck', t=6, c=32, n=3, s=2),  # 80x60, stride 8
            dict(type='bottleneck', t=6, c=64, n=4, s=2),  # 40x30, stride 16
            dict(type='bottleneck', t=6, c=96, n=3, s=2),  # 20x15, stride 32
            dict(type='bottleneck', t=6, c=160, n=2, s=2),  # 10x8, stride 64
            dict(type='bottleneck', t=6, c=320, n=1, s=2),  # 5x4, stride 128
        ],
        # "A detection head after every bottleneck stack".
        out_indices=(0, 1, 2, 3, 4, 5),
        # L2Norm with learned scale on the first three sources (initial scales of the release).
        l2_norm_scales=(10., 8., 5.),
        norm_cfg=dict(type='BN'),
        # ReLU6 everywhere (the release; the paper is silent).
        act_cfg=dict(type='ReLU6')),
    bbox_head=dict(
        type='S3FDHead',
        num_classes=1,
        in_channels=(24, 32, 64, 96, 160, 320),
        # Max-out background label on the stride-4 level: 3 background scores, keep the max.
        num_max_out=3,
        max_out_levels=(0, ),
        # The release's Face-C head: 5x5, 5x5, 5x5, 1x1, 1x1, 3x3 convs (scores and boxes alike).
        kernel_sizes=(5, 5, 5, 1, 1, 3),
        branch_convs=None,
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='ReLU6'),
        # S3FD: one square anchor per location, size 4 x stride, centred on its cell at
        # ((j + 0.5) * stride, (i + 0.5) * stride) (the release). mmdet's AnchorGenerator with
        # center_offset=0.5 would centre it at j * stride + 0.5 * base_size, 1.5 strides off;
        # CellCenteredAnchorGenerator derives the centres from the strides instead.
        anchor_generator=dict(
            type='CellCenteredAnchorGenerator',
            strides=[4, 8, 16, 32, 64, 128],
            base_sizes=[16, 32, 64, 128, 256, 512],
            ratios=[1.0],
            scales=[1.0]),
        # S3FD's variances (0.1 for the centre, 0.2 for the log-size).
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            clip_border=True,
            target_means=[0., 0., 0., 0.],
            target_stds=[0.1, 0.1, 0.2, 0.2])),
    train_cfg=dict(
        # Stage 1: IoU >= 0.35 (+ each face's best anchor); stage 2: scale compensation as the
        # release counts it: N = (#faces best >= 0.35 + #faces best >= 0.5) // 2 per image,
        # then the image's top-N anchors with 0.1 < IoU < 0.35 (see S3FDAssigner).
        assigner=dict(
            type='S3FDAssigner',
            pos_iou_thr=0.35,
            neg_iou_thr=0.35,
            compensate_iou_thr=0.1,
            compensation='release',
            compensate_count_thr=0.5,
            # Each face's single best anchor is positive, if it overlaps the face at all.
            min_pos_iou=1e-6,
            gt_max_assign_all=False,
            # Ignored instances (degenerate boxes, narrower than 1 px after the crop) are
            # neither face nor background for the anchors they cover.
            ignore_iof_thr=0.5),
        sampler=dict(type='PseudoSampler'),
        smoothl1_beta=1.,
        allowed_border=-1,
        pos_weight=-1,
        # Hard negative mining: the top 3 negatives per positive by classification loss.
        neg_pos_ratio=3,
        debug=False),
    test_cfg=dict(
        # S3FD keeps many candidates: WIDER images hold up to hundreds of tiny faces.
        nms_pre=5000,
        nms=dict(type='nms', iou_threshold=0.3),
        min_bbox_size=0,
        score_thr=0.01,
        max_per_img=750))
