"""Tandem emulators."""
