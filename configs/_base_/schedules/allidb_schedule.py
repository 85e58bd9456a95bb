# AdamW as in mmseg's SegFormer configs: lr 6e-5, head lr x10, no weight decay
# on norms and positional (pos_block) parameters; linear warm-up, then poly.
#
# Sized for the paper's 86 training images on one GPU:
#   aug configs: 86 images + 86 augmented copies = 172 samples per epoch;
#   batch 8 -> 172 / 8 = 21.5 iterations per epoch;
#   160 epochs -> 160 * 21.5 = 3440 iterations (320 passes over the 86
#   images for the configs without augmentation: all four take the same
#   number of optimiser steps).
# Validation every 10 epochs (215 iterations) and at the last iteration.
#
# Everything here is overridable with --cfg-options (train_cfg.max_iters,
# train_cfg.val_interval, default_hooks.checkpoint.interval,
# train_dataloader.batch_size). Our tools rescale the scheduler's begin/end to a
# new max_iters; with MMSegmentation's own tools, override param_scheduler too.
max_iters = 3440
val_interval = 215
warmup_iters = 200

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'pos_block': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            'head': dict(lr_mult=10.)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keeps the latest checkpoint (for --resume) and the best one by val mIoU.
    # SafeCheckpointHook is mmengine's CheckpointHook, except that it saves
    # the new checkpoint (to a temporary name, then renamed) before deleting
    # the old one, so a kill during a save never leaves nothing to resume.
    checkpoint=dict(
        type='SafeCheckpointHook', by_epoch=False, interval=val_interval,
        max_keep_ckpts=1, save_best='mIoU', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
