"""The ops and utils floors: the built-in ops, their samplers and parameters, typing, graphs."""
