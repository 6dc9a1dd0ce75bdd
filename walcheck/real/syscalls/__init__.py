"""ALICE's method on this machine (issue 11, spec/persistence.md): record a real
program's file-system calls with strace (``recorder``), enumerate every crash
state the persistence model allows (``states``), open each with a real reader
(``checkers``) and hand what it returns to the oracle."""
