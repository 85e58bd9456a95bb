"""Torch-free measurements of the smear image (red-cell size, stain reference and
normalization, OOD score, white cells), shared by training and both inference backends."""
