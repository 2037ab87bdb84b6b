"""``python -m rdafnet.cli`` (used under ``torchrun``)."""
import sys

from . import main

sys.exit(main())
