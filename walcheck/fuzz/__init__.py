"""Campaigns beyond CI: the FIXED machines for hours, on every core, on many machines.

Two engines. HypoFuzz (``walcheck fuzz``, its own pins in the ``fuzz`` extra)
fuzzes the machines' test cases with coverage guidance on every core of one
machine. ``walcheck fuzz --engine workers`` runs plain Hypothesis in worker
processes. Either keeps Hypothesis's example database in a directory, or in
Redis (``--redis URL``) shared by every worker on every machine: a failure
one worker finds is saved there, and every other worker replays it before it
generates anything new.
"""
