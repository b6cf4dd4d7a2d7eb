"""``python -m audit verify BUNDLE --log-key KEY``: the auditor's command line (``audit.cli``)."""

import sys

from audit.cli import main

sys.exit(main())
