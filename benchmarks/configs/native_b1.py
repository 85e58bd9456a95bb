# Ablation of docs/real_data.md: segformer_allidb_native_aug with the MiT-B1
# encoder (stage-1 width 64, not 32; same depths and heads) and the same head
# width (256). About twice the CPU per iteration of B0, so the benchmark's row
# trains it for half the iterations: an equal CPU budget.
_base_ = ['../../configs/segformer_allidb_native_aug.py']

model = dict(
    backbone=dict(embed_dims=64),
    decode_head=dict(in_channels=[64, 128, 320, 512]))
