"""Deliberately broken copies of contracted functions. Never imported by the
shipped packages; tests/test_contracts.py runs CrossHair on each and passes
only when CrossHair reports the counterexample."""
