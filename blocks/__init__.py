"""Tandem blocks."""
