# SegFormer on ALL-IDB, the whole field resized to 128x128, no augmentation
# (paper Table II, row "Size 128x128 without augmentation"). The crop size
# and the pipelines are the only settings of a variant; all else is _base_.
_base_ = [
    './_base_/models/segformer_mit.py', './_base_/datasets/allidb.py',
    './_base_/schedules/allidb_schedule.py', './_base_/default_runtime.py'
]
crop_size = (128, 128)
# The whole field (2592x1944 in ALL-IDB) is resized to crop x crop, not
# cropped (docs/paper_notes.md, item 3); mmseg still calls it crop_size.
resize = dict(type='Resize', scale=crop_size, keep_ratio=False)
# Reduced-size JPEG decode + label + resize, computed once per file and worker.
train_load = dict(type='CachedCompose', transforms=[
    dict(_base_.train_load_image, target_scale=crop_size),
    _base_.load_annotations, resize])
train_pipeline = [train_load, _base_.pack_inputs]
# Annotations are loaded after the resize: the prediction is scaled back to
# the label's original resolution and evaluated there (mmseg's default).
test_pipeline = [
    _base_.load_image, resize, _base_.load_annotations, _base_.pack_inputs
]
train_dataloader = dict(
    dataset=dict(datasets=[dict(_base_.train_view, pipeline=train_pipeline)]))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
