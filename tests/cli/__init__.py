"""The dezero-ext command."""
