"""The steps of a machine's counterexample in walcheck/trace.py's words.

Hypothesis prints a shrunk example as the rules it called, as code
(``state.append(payload=b'r1:ab')``): that stays, to be pasted back. Beside
each rule that is an operation of the vocabulary, ``describe_rule`` gives the
vocabulary's words (``append 5 bytes``), the words ``walcheck explore``'s
traces use for the same operation."""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

from walcheck import trace as steps

# A rule of the machines (walcheck/sidebyside/machines.py, crash_machines.py)
# and the operation its arguments make. Rules missing here (create, grow, the
# crashes inside an operation, I/O errors, media faults) take arguments the
# vocabulary does not carry; their code is shown alone.
RULE_OPERATIONS: Mapping[str, Callable[..., steps.Operation]] = {
    "append": lambda payload: steps.Append(payload),
    "put": lambda payload: steps.Put(payload),
    "commit": lambda: steps.Commit(),
    "staged_commit": lambda: steps.Commit(),
    "open_with_recovery": lambda: steps.OpenWithRecovery(),
    "doctor": lambda: steps.Doctor(),
    "end_batch": lambda: steps.EndBatch(),
    "pending": lambda: steps.Pending(),
    "records_after": lambda back, anywhere: steps.RecordsAfter(back, after=anywhere),
    "reopen": lambda read_only: steps.Reopen(read_only),
    "set_skip_sync": lambda skip: steps.SkipSync(skip),
    "flush": lambda: steps.Flush(),
    "kill": lambda pick: steps.Crash(power_loss=False),
    "power_loss": lambda pick: steps.Crash(power_loss=True, choice=pick),
}


def describe_rule(line: str) -> str | None:
    """The vocabulary's words for one printed rule call, or None when the line
    is not one (or its rule is not an operation of the vocabulary)."""
    try:
        call = ast.parse(line.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "state"
        and call.func.attr in RULE_OPERATIONS
        and not call.args
    ):
        return None
    try:
        arguments: dict[str, Any] = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
        return steps.describe(RULE_OPERATIONS[call.func.attr](**arguments))
    except (ValueError, TypeError):
        return None  # an argument that is not a literal, or not the rule's
