# segformer_allidb_native_aug plus one stain- and illumination-augmented view
# of the training split (docs/stain_robustness.md#the-native-scale-model),
# as segformer_allidb_256_stain_aug adds one to the 256 config.
_base_ = [
    './segformer_allidb_native_aug.py',
    './_base_/datasets/stain_augmentation.py'
]

stain_pipeline = [
    _base_.train_load, _base_.random_crop, *_base_.stain_augmentation,
    _base_.pack_inputs
]
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.train_view, pipeline=_base_.train_pipeline),
        dict(_base_.train_view, pipeline=_base_.aug_pipeline),
        dict(_base_.train_view, pipeline=stain_pipeline),
    ]))
