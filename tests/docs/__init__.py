"""The docs in step with the code: README, docs/*.md run or checked against the registry."""
