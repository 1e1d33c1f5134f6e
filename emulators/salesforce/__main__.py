"""``python -m emulators.salesforce``: the same as ``tandem emulate salesforce``."""

import argparse
import sys

from emulators.salesforce.cli import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m emulators.salesforce", description=__doc__)
add_arguments(parser)
sys.exit(run(parser.parse_args()))
