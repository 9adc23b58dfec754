"""dezero_ext.testing: the checker, strategies, the adapters, the pytest plugins."""
