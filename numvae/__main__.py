"""`python -m numvae` is the `numvae` command."""

import sys

from numvae.cli import main

sys.exit(main())
