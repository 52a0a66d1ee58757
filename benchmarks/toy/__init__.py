"""The toy lab: comparisons run in the toy world (BATON's conditions, objectives, online rounds, GRPO)
on the package's building blocks. Not installed; its scripts are ``benchmarks/toy_*.py`` and its
results tables are in ``benchmarks/toy/README.md``."""
