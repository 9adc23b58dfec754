# No code
