"""Checks: one module per check, each a config model plus the class that binds detectors to phases.

To add a check: write `checks/<name>.py` with a `Config` model (a `CheckSettings` with a
`type: Literal["<name>"]`) and a class built from it, then list the class in
`checks/registry.py`. The policy model, the JSON Schema and the docs follow from there.
"""
