"""``python -m posekit`` (and ``torchrun -m posekit train ...``) runs the command line."""

import sys

from posekit.cli import main

sys.exit(main())
