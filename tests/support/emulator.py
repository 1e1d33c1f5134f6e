"""Emulator processes for tests: the project's own starter, re-exported for the test suites."""

from emulators.process import RunningEmulator, running_emulator, start_emulator

__all__ = ["RunningEmulator", "running_emulator", "start_emulator"]
