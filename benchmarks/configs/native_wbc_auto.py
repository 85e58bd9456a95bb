# Ablation of docs/real_data.md: segformer_allidb_native_wbc with its class 2
# found in the image instead of labelled by hand. In training, every nucleated
# cell that holds no blast pixel becomes class 2 of the label
# (LabelOtherWhiteCells, from the white-cell finder), at the working scale and
# cached with the rescale; the masks on disk stay two-class.
_base_ = ['../../configs/segformer_allidb_native_wbc.py']

label_others = dict(type='LabelOtherWhiteCells', label=2)
train_load = dict(_base_.train_load, transforms=_base_.train_load.transforms + [label_others])
train_pipeline = [train_load, _base_.random_crop, _base_.pack_inputs]
aug_pipeline = [train_load, _base_.random_crop, _base_.table1_augmentation, _base_.pack_inputs]
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.train_view, pipeline=train_pipeline),
        dict(_base_.train_view, pipeline=aug_pipeline),
    ]))
