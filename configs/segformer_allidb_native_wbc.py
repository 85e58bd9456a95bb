# segformer_allidb_native_aug, with the other white cells learnt as a class of
# their own (docs/real_data.md#the-other-white-cells-as-a-class-of-their-own):
#   * the masks hold class 2 where a white cell is not a blast (allidb-convert
#     --category-map NAME=other_white_cell, or a category named "other white
#     cell"), so the loss tells blasts from their look-alikes directly;
#   * the head learns three classes and merges class 2 into the background at
#     prediction (BackgroundSubclassHead): inference, evaluation and export see
#     background and blast, as with every other config.
# Hand labels are needed: the same classes found in the image instead
# (LabelOtherWhiteCells, benchmarks/configs/native_wbc_auto.py) lost to
# native_aug on three seeds.
_base_ = ['./segformer_allidb_native_aug.py']

model = dict(decode_head=dict(type='BackgroundSubclassHead', num_classes=3, predict_classes=2))
