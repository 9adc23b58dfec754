"""An op plugin written as a user would, type-checked by the project's ``mypy --strict`` run."""
