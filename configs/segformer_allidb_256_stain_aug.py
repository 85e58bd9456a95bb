# segformer_allidb_256_stain plus one stain- and illumination-augmented view of
# the training split. Measured in docs/stain_robustness.md: at the benchmark's
# short schedule it lowered accuracy in and out of domain, so the chosen
# measures (segformer_allidb_256_stain) do not include it.
_base_ = [
    './segformer_allidb_256_stain.py',
    './_base_/datasets/stain_augmentation.py'
]

stain_pipeline = [_base_.train_load, *_base_.stain_augmentation, _base_.pack_inputs]
# Each original image plus one stain-augmented copy per epoch.
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.train_view, pipeline=_base_.train_pipeline),
        dict(_base_.train_view, pipeline=stain_pipeline),
    ]))
