# SegFormer for ALL-IDB: mmseg's MixVisionTransformer (MiT) encoder and its
# all-MLP SegformerHead, two classes (0 background, 1 lymphoblast).
#
# The paper does not name the MiT variant (paper-notes item 2). B0 is the
# default; any other variant is this one line:
mit_variant = 'b0'  # one of 'b0' .. 'b5'
#
# The paper's "K=4, S=3, P=2" patch embedding contradicts its own 1/4..1/32
# feature scales (paper-notes item 1); we keep the standard MiT patch
# embeddings (K=7,S=4,P=3 then K=3,S=2,P=1), which are mmseg's defaults.
#
# Pretrained MiT weights come from a local file: set ALLIDB_PRETRAINED=PATH or
# pass --pretrained PATH to tools/train.py. mmseg's official ImageNet weights:
#   https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b0_20220624-7e0fe6dd.pth
# Hugging Face nvidia/mit-b* checkpoints convert with tools/convert_mit_weights.py.
# Left unset, the backbone trains from scratch (logged once at start).
mit_pretrained = '{{$ALLIDB_PRETRAINED:none}}'

# Depth per stage and stage-1 width of each variant (SegFormer paper, Table 6).
mit_num_layers = dict(
    b0=[2, 2, 2, 2], b1=[2, 2, 2, 2], b2=[3, 4, 6, 3],
    b3=[3, 4, 18, 3], b4=[3, 8, 27, 3], b5=[3, 6, 40, 3])[mit_variant]
mit_embed_dims = 32 if mit_variant == 'b0' else 64

# SyncBN as in mmseg's SegFormer: on CPU it becomes BN, in a single process
# (mmengine reverts it) and under CPU DDP (our DeviceAwareDDP wrapper, see
# default_runtime.py), because SyncBN needs CUDA there.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    # Training batches are stacked after padding to a multiple of 32. The
    # training inputs are already crop x crop (128, 256), so nothing is
    # padded, and this key does not depend on the crop size.
    size_divisor=32)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        # mmseg's MiT with fused SDPA attention (same weights and outputs,
        # faster); fused_attention=False gives mmseg's stock attention.
        type='FusedMixVisionTransformer',
        fused_attention=True,
        in_channels=3,
        embed_dims=mit_embed_dims,
        num_stages=4,
        num_layers=mit_num_layers,
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        init_cfg=None if mit_pretrained == 'none' else dict(
            type='Pretrained', checkpoint=mit_pretrained)),
    decode_head=dict(
        type='SegformerHead',
        in_channels=[mit_embed_dims * k for k in (1, 2, 5, 8)],
        in_index=[0, 1, 2, 3],
        channels=256 if mit_variant in ('b0', 'b1') else 768,
        dropout_ratio=0.1,
        num_classes=2,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
