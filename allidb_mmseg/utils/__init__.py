"""Small helpers every part of the package and every tool share.

Light on purpose (numpy and the standard library; cv2 only when an image is
written): tools import it before anything heavy.
"""
from .errors import AllidbError, AllidbWarning, first_line, tool_main
from .fileio import (WriteError, atomic_imwrite, atomic_write,
                     atomic_write_bytes, atomic_write_json, atomic_write_text,
                     check_writable_dir, onnx_sidecar_entry, refuse_existing,
                     remove_stale_temps, swap_in_dir, temp_dir_beside)
from .images import (BLAST_CLASS, IMAGE_SUFFIXES, Pairing, files_by_stem, is_image_file,
                     oriented_size, pair_by_stem, split_pairs)

__all__ = ['AllidbError', 'AllidbWarning', 'first_line', 'tool_main', 'WriteError',
           'atomic_imwrite', 'atomic_write', 'atomic_write_bytes', 'atomic_write_json',
           'atomic_write_text', 'check_writable_dir', 'onnx_sidecar_entry', 'refuse_existing',
           'remove_stale_temps', 'swap_in_dir', 'temp_dir_beside', 'BLAST_CLASS',
           'IMAGE_SUFFIXES', 'Pairing', 'files_by_stem', 'is_image_file', 'oriented_size',
           'pair_by_stem', 'split_pairs']
