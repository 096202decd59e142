import sys

from mlxa.cli.main import main

sys.exit(main())
