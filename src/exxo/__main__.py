import sys

from exxo.cli import main

sys.exit(main())
