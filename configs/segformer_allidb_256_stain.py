# Stain robustness as measured to help (docs/stain_robustness.md): the 256x256
# config plus the model's stain reference, saved with it by StainReferenceHook
# (WORK_DIR/stain_reference.json and every checkpoint's meta). tools/infer.py
# uses it for each smear's OOD score and flag, and with --stain-normalize maps
# the flagged smears onto the training stain (Reinhard) before segmenting.
# The benchmark measured these choices on the 256 config; the native-scale
# config (the one to use) carries the same hook.
_base_ = ['./segformer_allidb_256.py']
custom_hooks = [
    dict(type='TrainingCurvesHook'),
    dict(type='PretrainedWeightsNoticeHook'),
    dict(type='StainReferenceHook'),
]
