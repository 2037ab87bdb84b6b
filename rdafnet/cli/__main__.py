"""``python -m rdafnet.cli`` (used under ``torchrun``)."""

import sys

from rdafnet.cli import main

sys.exit(main())
