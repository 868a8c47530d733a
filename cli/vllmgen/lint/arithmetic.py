"""Shell arithmetic as vLLM command lines use it (`--data-parallel-size $((LWS_GROUP_SIZE * DP_SIZE_LOCAL))`).

Integers, `+ - *`, unary signs and parentheses, evaluated in one pass over the tokens (no recursion, so no
depth limit to hit) within the shell's 64-bit range: no input can make it slow or large. Anything else
(`**`, `/`, names left over) is not understood and gives None, which the rules read as "unknown".
"""

from __future__ import annotations

import re
from typing import Optional

#: The shell computes in signed 64-bit integers; a result outside is not what the shell would get.
INT64_LIMIT = 2**63
_TOKEN = re.compile(r"\s*(?:(\d+)|([-+*()]))")
#: Binding strength: unary signs bind tighter than `*`, which binds tighter than `+ -`.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "neg": 3, "pos": 3}


def evaluate(expr: str) -> Optional[int]:
    """The value of an arithmetic expression, or None when it is not one this reader understands."""
    values: list[int] = []
    ops: list[str] = []
    operand_next = True
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            if expr[pos:].strip():
                return None
            break
        pos = m.end()
        number, op = m.groups()
        if number is not None:
            if not operand_next or len(number) > len(str(INT64_LIMIT)):
                return None
            values.append(int(number))
            operand_next = False
        elif op == "(":
            if not operand_next:
                return None
            ops.append(op)
        elif op == ")":
            if operand_next:
                return None
            while ops and ops[-1] != "(":
                if not _apply(ops.pop(), values):
                    return None
            if not ops:
                return None
            ops.pop()
        elif operand_next:  # a sign in front of an operand
            if op == "*":
                return None
            ops.append("neg" if op == "-" else "pos")
        else:
            while ops and ops[-1] != "(" and _PRECEDENCE[ops[-1]] >= _PRECEDENCE[op]:
                if not _apply(ops.pop(), values):
                    return None
            ops.append(op)
            operand_next = True
    if operand_next:
        return None
    while ops:
        op = ops.pop()
        if op == "(" or not _apply(op, values):
            return None
    return values[0] if len(values) == 1 else None


def _apply(op: str, values: list[int]) -> bool:
    if op in ("neg", "pos"):
        if not values:
            return False
        result = -values.pop() if op == "neg" else values.pop()
    else:
        if len(values) < 2:
            return False
        b, a = values.pop(), values.pop()
        result = a + b if op == "+" else a - b if op == "-" else a * b
    if abs(result) >= INT64_LIMIT:
        return False
    values.append(result)
    return True
