"""The benchmark suite still runs (nothing timed)."""
