"""``python -m dpo_sim``: the same as the ``dpo-sim`` command."""

import sys

from .app.cli import main

sys.exit(main())
