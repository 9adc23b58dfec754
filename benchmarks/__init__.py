"""Side-by-side benchmarks of dezero_ext against hand-written NumPy and the peers.

Run `python -m benchmarks --help` from the repository root; see benchmarks/README.md.
"""
