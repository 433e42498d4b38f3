"""``python -m sruq.cli``: the ``sruq`` command."""

import sys

from sruq.cli.main import main

sys.exit(main())
