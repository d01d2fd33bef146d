import sys

from fakemms.cli import main

sys.exit(main())
