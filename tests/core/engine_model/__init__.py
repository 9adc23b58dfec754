"""The engine model as an adversary (``adversary.py``): every registered op, views, leaves
made as views of a base array, writes through leaves, views and bases at any step, seeds of
any shape, 0-d, empty and broadcast shapes, threads. ``tests/core/test_engine_model.py``
runs it beside the first model; ``program.py`` holds its program and its reference."""
