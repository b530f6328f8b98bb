import sys

from prefbuild.cli import main

sys.exit(main())
