"""Detectors: pure functions over text and values; no HTTP, no policy objects."""
