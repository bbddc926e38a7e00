# Runtime settings shared by every RNNPool face detector (MMDetection 3.x conventions).
default_scope = 'mmdet'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # 300 epochs: keep a checkpoint every 10 and the best by the WIDER hard AP (every face of
    # the val split; the release keeps the best validation loss, which MMDetection's val loop
    # does not compute). Without validation (no val_evaluator) there is no best to keep.
    # AtomicCheckpointHook: MMEngine's, written to a temporary file and renamed, so a run killed
    # during a save resumes from the previous complete checkpoint.
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=10,
        max_keep_ckpts=3,
        save_best='widerface/hard',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False
