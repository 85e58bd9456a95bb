"""Measurements of the smear image itself, torch-free: the red-cell size
(working scale), the stain reference, stain normalization and the
out-of-distribution score. Training transforms,
hooks and both inference backends share them."""
