"""Where shared state lives: counters in memory (one process) or in Redis (many)."""
