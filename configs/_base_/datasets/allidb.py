# ALL-IDB lymphoblast segmentation in mmseg's layout:
#   DATA_ROOT/img_dir/{train,val,test}/*  and  DATA_ROOT/ann_dir/{split}/*.png
# (masks hold class indices 0/1, 255 is ignored).
#
# DATA_ROOT defaults to data/allidb (relative to the working directory). Override
# it with the environment variable ALLIDB_DATA_ROOT (read here, so it also works
# with MMSegmentation's own tools) or with --data-root on our tools.
dataset_type = 'ALLIDBDataset'
data_root = '{{$ALLIDB_DATA_ROOT:data/allidb}}'

# Pipeline steps shared by every config. The crop-size-dependent steps (the
# resize) and the pipelines themselves are written in each top-level config.
# Evaluation and inference decode the whole file (the label is scored at its
# native resolution). Training decodes JPEGs at the largest 1/2, 1/4 or 1/8
# scale that still covers the crop, instead of the full 2592x1944 field, and
# caches the resized image and label per worker (docs/performance.md). For
# the naive loader, set train_load_image = load_image.
load_image = dict(type='LoadImageFromFile')
train_load_image = dict(type='LoadImageFromFileFast')  # target_scale: crop
# reduce_zero_label comes from ALLIDBDataset (False: 0 is background).
load_annotations = dict(type='LoadAnnotations')
pack_inputs = dict(type='PackSegInputs')

# The paper's Table I (its probabilities were lost from the text,
# docs/paper_notes.md, item 5). The six transforms are, in order, exactly
# albumentations' "mask augmentation for segmentation" example, so we take that
# example's probabilities; argument names are albumentations 2.x (ElasticTransform has no
# alpha_affine, OpticalDistortion no shift_limit any more). The distortions fill
# their borders by reflection (border_mode=4, cv2.BORDER_REFLECT_101), the
# albumentations 1.x default of the paper's time; 2.x would pad with black.
# Applied after the whole field is resized to a square crop, so RandomRotate90
# keeps the shape (mmseg's Albu does not update img_shape). SeededAlbu is mmseg's
# Albu with albumentations' own generator seeded from the run's seed.
table1_augmentation = dict(
    type='SeededAlbu',
    keymap={'img': 'image', 'gt_seg_map': 'mask'},
    update_pad_shape=False,
    transforms=[
        dict(type='VerticalFlip', p=0.5),
        dict(type='RandomRotate90', p=0.5),
        dict(
            type='OneOf',
            transforms=[
                dict(type='ElasticTransform', alpha=120, sigma=120 * 0.05,
                     border_mode=4, p=0.5),
                dict(type='GridDistortion', border_mode=4, p=0.5),
                dict(type='OpticalDistortion', distort_limit=2,
                     border_mode=4, p=1.0),
            ],
            p=0.8),
        dict(type='CLAHE', p=0.8),
        dict(type='RandomBrightnessContrast', p=0.8),
        dict(type='RandomGamma', p=0.8),
    ])

# One "view" of the training split. The training set is a ConcatDataset of
# views: one plain view, and for the aug configs one more, augmented view, so
# 86 images give 172 samples per epoch, as in the paper (docs/paper_notes.md,
# item 4); the augmented copy is drawn afresh every epoch.
train_view = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'))

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='ConcatDataset', datasets=[train_view]))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val')))
# The test split is used only by tools/test.py.
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/test',
                         seg_map_path='ann_dir/test')))

# mIoU/mAcc over both classes as in the paper (docs/paper_notes.md, item 6);
# mmseg reports percentages, the paper 0-1. PerClassIoUMetric also returns the
# per-class IoU/Acc/Dice, so logs and tools/test.py's JSON hold them.
val_evaluator = dict(type='PerClassIoUMetric', iou_metrics=['mIoU', 'mDice'])
test_evaluator = val_evaluator
