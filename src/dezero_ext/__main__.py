"""``python -m dezero_ext``: the ``dezero-ext`` command."""

import sys

from dezero_ext.cli import main

sys.exit(main())
