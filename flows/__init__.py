"""Tandem flows."""
