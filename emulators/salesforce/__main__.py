"""``python -m emulators.salesforce``: the same as ``tandem emulate salesforce``."""

import argparse
import sys

from emulators.common.errors import ListenError
from emulators.salesforce.cli import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m emulators.salesforce", description=__doc__)
add_arguments(parser)
try:
    sys.exit(run(parser.parse_args()))
except ListenError as exc:
    print(f"python -m emulators.salesforce: {exc}", file=sys.stderr)
    sys.exit(2)
