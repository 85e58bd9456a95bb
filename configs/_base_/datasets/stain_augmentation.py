# Stain and illumination augmentation (docs/stain_robustness.md), shared by the
# *_stain_aug configs: each adds one augmented view of the training split.
# Another lab's MGG batch, staining time, lamp and camera, each drawn afresh:
# - MGGStainJitter: each dye's amount x0.6-1.4 and its colour tilted, in OD;
# - PlanckianJitter: lamp colour temperature (white balance);
# - ColorJitter: exposure, contrast, saturation, a little hue;
# - blur or defocus, and JPEG quality 60-100 (camera and compression).
stain_augmentation = [
    dict(type='MGGStainJitter', amount_range=(0.6, 1.4), tilt=0.1, p=0.8),
    dict(
        type='SeededAlbu',
        keymap={'img': 'image', 'gt_seg_map': 'mask'},
        update_pad_shape=False,
        transforms=[
            dict(type='PlanckianJitter', mode='blackbody', p=0.5),
            dict(type='ColorJitter', brightness=0.2, contrast=0.2,
                 saturation=0.2, hue=0.03, p=0.5),
            dict(type='OneOf', transforms=[
                dict(type='GaussianBlur', blur_limit=(3, 5), p=1.0),
                dict(type='Defocus', radius=(1, 3), p=1.0),
            ], p=0.3),
            dict(type='ImageCompression', quality_range=(60, 100), p=0.3),
            dict(type='VerticalFlip', p=0.5),
            dict(type='RandomRotate90', p=0.5),
        ]),
]
