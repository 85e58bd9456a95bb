# Ablation of docs/real_data.md: segformer_allidb_native_real with Dice of the
# target class added to its weighted cross-entropy (mmseg's DiceLoss with
# ignore_index=0 keeps only the target channel), both weight 1.
_base_ = ['../../configs/segformer_allidb_native_real.py']

model = dict(decode_head=dict(loss_decode=[
    dict(type='CrossEntropyLoss', use_sigmoid=False, class_weight=[1.0, 5.0],
         loss_weight=1.0),
    dict(type='DiceLoss', use_sigmoid=False, ignore_index=0, loss_weight=1.0)]))
