"""Training data: paired datasets and pair synthesis."""
from .pairs import PairedImages, adjust_saturation, dihedral, find_pairs, pair_names
from .synth import average_frames, camera_motion_blur, gopro_pair, shake_trajectory, synthetic_blur, trajectory_psf

__all__ = ["PairedImages", "adjust_saturation", "average_frames", "camera_motion_blur", "dihedral", "find_pairs", "gopro_pair", "pair_names",
           "shake_trajectory", "synthetic_blur", "trajectory_psf"]
