# Ablation of docs/real_data.md: segformer_allidb_native_aug with only the crop
# rule of segformer_allidb_native_real (cat_max_ratio 0.75).
_base_ = ['../../configs/segformer_allidb_native_aug.py']

random_crop = dict(type='RandomCrop', crop_size=_base_.crop_size, cat_max_ratio=0.75)
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.train_view, pipeline=[_base_.train_load, random_crop,
                                          _base_.pack_inputs]),
        dict(_base_.train_view, pipeline=[_base_.train_load, random_crop,
                                          _base_.table1_augmentation, _base_.pack_inputs]),
    ]))
