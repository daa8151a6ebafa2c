import sys

from liveplay.cli import main

sys.exit(main())
