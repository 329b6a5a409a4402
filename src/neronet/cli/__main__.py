"""``python -m neronet.cli``: the ``neronet`` command."""

import sys

from neronet.cli import main

sys.exit(main())
