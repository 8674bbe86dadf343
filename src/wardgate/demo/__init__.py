"""Bundled demo services: a fake OpenAI-compatible upstream for demos and tests."""
