"""``python -m ctxcompress``: the same as the ``ctxcompress`` command."""

import sys

from ._cli import main

sys.exit(main())
