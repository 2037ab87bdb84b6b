"""Files in and out: images (8/16-bit, float, metadata kept, written atomically) and video sources."""

from rdafnet.io.guard import max_pixels, set_max_pixels
from rdafnet.io.image import (
    IMAGE_SUFFIXES,
    ImageReadError,
    from_float,
    image_size,
    plan_outputs,
    read_image,
    read_metadata,
    to_float,
    write_image,
)
from rdafnet.io.video import VIDEO_SUFFIXES, VideoInfo, VideoResult, is_video, probe

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "ImageReadError",
    "VideoInfo",
    "VideoResult",
    "from_float",
    "image_size",
    "is_video",
    "plan_outputs",
    "probe",
    "read_image",
    "max_pixels",
    "read_metadata",
    "set_max_pixels",
    "to_float",
    "write_image",
]
