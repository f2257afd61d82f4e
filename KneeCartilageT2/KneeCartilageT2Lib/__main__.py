"""``python -m KneeCartilageT2Lib`` runs the ``knee-t2`` command line."""

import sys

from .cli import main

sys.exit(main())
