import sys

from aikit.cli import main

sys.exit(main())
