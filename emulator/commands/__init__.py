"""AT command families: one module per family, each with ``register(registry)``."""
