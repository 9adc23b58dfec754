"""The core floor: Variable, Function, the backward pass, modes, the engine's faults and model."""
