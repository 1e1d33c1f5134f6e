"""Tandem tasks."""
