# SegFormer on ALL-IDB at 128x128 with the paper's Table I augmentation
# (paper Table II, row "Size 128x128 with augmentation"): the plain 128x128
# config plus one augmented view of the training split.
_base_ = ['./segformer_allidb_128.py']
aug_pipeline = [
    _base_.train_load, _base_.table1_augmentation, _base_.pack_inputs
]
# Each original image plus one freshly augmented copy per epoch: 86 -> 172.
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.train_view, pipeline=_base_.train_pipeline),
        dict(_base_.train_view, pipeline=aug_pipeline),
    ]))
