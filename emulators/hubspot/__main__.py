"""``python -m emulators.hubspot``: the same as ``tandem emulate hubspot``."""

import argparse
import sys

from emulators.common.errors import ListenError
from emulators.hubspot.cli import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m emulators.hubspot", description=__doc__)
add_arguments(parser)
try:
    sys.exit(run(parser.parse_args()))
except ListenError as exc:
    print(f"python -m emulators.hubspot: {exc}", file=sys.stderr)
    sys.exit(2)
