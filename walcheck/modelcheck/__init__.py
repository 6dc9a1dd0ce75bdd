"""Model checking: ``walcheck explore``, a bounded breadth-first exhaustive
exploration of the model alone (spec/explore.md). Imports no reference."""
