"""The checking harness: stateful machines, the oracle, the campaign and the CLI.

It binds the model and the reference together; neither of them imports it.
"""
