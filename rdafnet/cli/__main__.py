"""``python -m rdafnet.cli`` (used under ``torchrun``)."""

from rdafnet.cli import entry

entry()
