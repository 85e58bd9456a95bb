# Ablation of docs/real_data.md: segformer_allidb_native_aug with online hard
# example mining (mmseg's OHEMPixelSampler): the cross-entropy is taken only
# over pixels whose true class has probability under 0.7, and at least the
# 10,000 hardest pixels of each 256x256 crop (15 %), so that glass and red
# cells stop dominating the loss and the confusable white cells carry it.
_base_ = ['../../configs/segformer_allidb_native_aug.py']

model = dict(decode_head=dict(
    sampler=dict(type='OHEMPixelSampler', thresh=0.7, min_kept=10000)))
