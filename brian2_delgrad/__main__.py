"""``python -m brian2_delgrad`` runs the command line."""
import sys

from .cli import main

sys.exit(main())
