"""Helpers for bench/run.py (process control, load generation, systems under test, report)."""
