# Runtime shared by every ALL-IDB config.
default_scope = 'mmseg'
# Registers ALLIDBDataset, our transforms, model, metric, hooks and DDP wrapper
# (allidb_mmseg.REGISTERING_MODULES), so these configs also run from
# MMSegmentation's own tools/train.py and tools/test.py.
custom_imports = dict(
    imports=['allidb_mmseg.datasets', 'allidb_mmseg.models',
             'allidb_mmseg.engine', 'allidb_mmseg.evaluation.metrics'],
    allow_failed_imports=False)

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # On a CPU-only machine our tools start the process group with gloo
    # before the Runner does, so this NCCL setting is used only on GPUs.
    dist_cfg=dict(backend='nccl'),
)
# DDP that works on CPU too: no device_ids and SyncBN turned into BN when the
# model is not on CUDA; plain MMDistributedDataParallel on GPUs.
model_wrapper_cfg = dict(
    type='DeviceAwareDDP', broadcast_buffers=False,
    find_unused_parameters=False)
randomness = dict(seed=0)

vis_backends = [dict(type='LocalVisBackend')]
# No fixed name (mmseg uses name='visualizer'): the Runner then names it after
# the experiment, so several runs in one process (tools/analysis_tools/reproduce_table2.py)
# each write into their own log dir instead of sharing the first visualizer.
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False

custom_hooks = [
    # Loss and validation mIoU curves as WORK_DIR/training_curves.png.
    dict(type='TrainingCurvesHook'),
    # One clear line on whether the backbone starts from pretrained weights.
    dict(type='PretrainedWeightsNoticeHook'),
]
