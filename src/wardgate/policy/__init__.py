"""The policy: the single source of configuration (model, loader, compiler)."""
