"""Errors an emulator's start-up reports to the person who started it, as one line."""

from __future__ import annotations


class ListenError(Exception):
    """A server (an emulator, or ``tandem serve``'s pages) cannot listen where it was asked to: a port out of
    range, a port in use, an address this machine does not have. The message says which and what to do; the
    command prints it and exits 2."""
