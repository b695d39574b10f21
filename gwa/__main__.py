"""``python -m gwa`` runs the CLI."""

import sys

from gwa.cli import main

sys.exit(main())
