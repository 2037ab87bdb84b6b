"""Training data: paired datasets and pair synthesis."""

from rdafnet.data.pairs import (
    GOPRO_TEST_SEQUENCES,
    PairedImages,
    adjust_saturation,
    check_training_scenes,
    dihedral,
    find_pairs,
    pair_names,
    scene_of,
)
from rdafnet.data.synth import (
    average_frames,
    camera_motion_blur,
    gopro_pair,
    shake_trajectory,
    synthetic_blur,
    trajectory_psf,
)

__all__ = [
    "GOPRO_TEST_SEQUENCES",
    "PairedImages",
    "adjust_saturation",
    "average_frames",
    "camera_motion_blur",
    "check_training_scenes",
    "dihedral",
    "find_pairs",
    "gopro_pair",
    "pair_names",
    "scene_of",
    "shake_trajectory",
    "synthetic_blur",
    "trajectory_psf",
]
