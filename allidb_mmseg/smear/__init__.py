"""Measurements of the smear image itself, torch-free: the stain reference,
stain normalization and the out-of-distribution score. Training transforms,
hooks and both inference backends share them."""
