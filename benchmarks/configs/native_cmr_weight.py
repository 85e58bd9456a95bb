# Ablation of docs/real_data.md: native_cmr plus the loss weight of
# segformer_allidb_native_real (target x5); no stain-augmented view.
_base_ = ['./native_cmr.py']

model = dict(decode_head=dict(loss_decode=dict(class_weight=[1.0, 5.0])))
