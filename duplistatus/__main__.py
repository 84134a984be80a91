import sys

from duplistatus.cli import main

sys.exit(main())
