"""Where weights come from: bundled and registered names, Hub ids, folders and files, the authors'
releases and their key layout, and spandrel's loader. The registry and bundled models sit beside the code."""

from rdafnet.weights.authors import WeightsUnavailableError, download
from rdafnet.weights.convert import convert_official, load_official
from rdafnet.weights.hub import from_pretrained, list_pretrained, pretrained_info

__all__ = [
    "WeightsUnavailableError",
    "convert_official",
    "download",
    "from_pretrained",
    "list_pretrained",
    "load_official",
    "pretrained_info",
]
