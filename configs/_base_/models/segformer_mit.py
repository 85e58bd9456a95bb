# SegFormer for ALL-IDB: mmseg's own SegFormer MiT-B0 base, with only what
# differs stated here: two classes (0 background, 1 lymphoblast), the fused
# attention MiT, the variant choice and where pretrained weights come from.
_base_ = ['mmseg::_base_/models/segformer_mit-b0.py']

# The paper does not name the MiT variant (docs/paper_notes.md, item 2). B0 is
# the default; any other variant is this one line:
mit_variant = 'b0'  # one of 'b0' .. 'b5'
#
# The paper's "K=4, S=3, P=2" patch embedding contradicts its own 1/4..1/32
# feature scales (item 1); mmseg's standard MiT patch embeddings stay
# (K=7,S=4,P=3 then K=3,S=2,P=1).
#
# Pretrained MiT weights come from a local file: set ALLIDB_PRETRAINED=PATH or
# pass --pretrained PATH to tools/train.py. mmseg's official ImageNet weights:
#   https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b0_20220624-7e0fe6dd.pth
# Hugging Face nvidia/mit-b* checkpoints convert with
# tools/model_converters/hf_mit2mmseg.py. Left unset, the backbone trains from
# scratch (logged once at start).
mit_pretrained = '{{$ALLIDB_PRETRAINED:none}}'

# Depth per stage and stage-1 width of each variant (SegFormer paper, Table 6).
mit_num_layers = dict(
    b0=[2, 2, 2, 2], b1=[2, 2, 2, 2], b2=[3, 4, 6, 3],
    b3=[3, 4, 18, 3], b4=[3, 8, 27, 3], b5=[3, 6, 40, 3])[mit_variant]
mit_embed_dims = 32 if mit_variant == 'b0' else 64

# Training batches are stacked after padding to a multiple of 32; inputs that
# are already crop x crop (128, 256) are not padded.
data_preprocessor = dict(size_divisor=32)
# mmseg's SyncBN stays: on CPU it becomes BN, in a single process (mmengine
# reverts it) and under CPU DDP (DeviceAwareDDP, see default_runtime.py).
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        # mmseg's MiT with fused SDPA attention (same weights and outputs,
        # faster); fused_attention=False gives mmseg's stock attention.
        type='FusedMixVisionTransformer',
        fused_attention=True,
        embed_dims=mit_embed_dims,
        num_layers=mit_num_layers,
        init_cfg=None if mit_pretrained == 'none' else dict(
            type='Pretrained', checkpoint=mit_pretrained)),
    decode_head=dict(
        # mmseg's SegformerHead with the fusing 1x1 conv applied per stage
        # before the upsampling (same weights, same outputs, less work);
        # type='SegformerHead' gives the stock head.
        type='FusedSegformerHead',
        in_channels=[mit_embed_dims * k for k in (1, 2, 5, 8)],
        channels=256 if mit_variant in ('b0', 'b1') else 768,
        num_classes=2))
