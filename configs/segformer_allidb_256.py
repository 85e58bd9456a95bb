# SegFormer on ALL-IDB, the whole field resized to 256x256, no augmentation
# (paper Table II, row "Size 256x256 without augmentation"): the 128x128
# config at the other crop size.
_base_ = ['./segformer_allidb_128.py']
crop_size = (256, 256)
resize = dict(type='Resize', scale=crop_size, keep_ratio=False)
train_load = dict(type='CachedCompose', transforms=[
    dict(_base_.train_load_image, target_scale=crop_size),
    _base_.load_annotations, resize])
train_pipeline = [train_load, _base_.pack_inputs]
test_pipeline = [
    _base_.load_image, resize, _base_.load_annotations, _base_.pack_inputs
]
train_dataloader = dict(
    dataset=dict(datasets=[dict(_base_.train_view, pipeline=train_pipeline)]))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
