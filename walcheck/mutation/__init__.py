"""``walcheck mutate``: the mutation score of ``pytest -k stateful``.

Cosmic Ray (a maintained mutation tool) makes the mutants and applies them,
one at a time, to a copy of the project; ``pytest -k stateful`` is the killer.
A seeded sample keeps a run within reach; the score is printed per file, and
survivors the catalogue (spec/mutants.md) lists as equivalent count apart.
"""
