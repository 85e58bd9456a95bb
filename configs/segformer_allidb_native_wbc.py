# segformer_allidb_native_aug, with the other white cells learnt as a class of
# their own (docs/real_data.md#the-other-white-cells-labelled-from-the-image):
#   * in training, every nucleated cell that holds no blast pixel becomes
#     class 2 of the label, found in the image by the white-cell finder
#     (LabelOtherWhiteCells): the masks stay two-class, nothing more to annotate;
#   * the head learns three classes and merges class 2 into the background at
#     prediction (BackgroundSubclassHead): inference, evaluation and export see
#     background and blast, as with every other config.
_base_ = ['./segformer_allidb_native_aug.py']

label_others = dict(type='LabelOtherWhiteCells', working_rbc_px=_base_.working_rbc_px, label=2)
train_load = dict(_base_.train_load, transforms=_base_.train_load.transforms + [label_others])
train_pipeline = [train_load, _base_.random_crop, _base_.pack_inputs]
aug_pipeline = [train_load, _base_.random_crop, _base_.table1_augmentation, _base_.pack_inputs]
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.train_view, pipeline=train_pipeline),
        dict(_base_.train_view, pipeline=aug_pipeline),
    ]))

model = dict(decode_head=dict(type='BackgroundSubclassHead', num_classes=3, predict_classes=2))
