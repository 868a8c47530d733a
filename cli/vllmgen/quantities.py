"""Kubernetes resource quantities, in the full grammar Kubernetes accepts (apimachinery's resource.Quantity,
k8s.io/apimachinery/pkg/api/resource/quantity.go and suffix.go):

    <quantity> ::= <sign><number><suffix>;  <number> ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>   ::= Ki | Mi | Gi | Ti | Pi | Ei  |  n | u | m | "" | k | M | G | T | P | E  |  (e|E)<signed integer>

`2Gi`, `2G`, `1.5Gi`, `500m`, `.5`, `1e9`, `+4` are quantities. Sizes and resource amounts are never negative
(Kubernetes refuses a negative request or limit), so the spec's sign is `+` or none; a manifest may hold any
quantity (`signed`). The schemas' quantity patterns are QUANTITY_PATTERN (a test checks each one)."""

from __future__ import annotations

import re
from decimal import MAX_EMAX, MIN_EMIN, Decimal, Overflow, localcontext

#: A non-negative Kubernetes quantity, as a JSON Schema (ECMA-262) pattern.
QUANTITY_PATTERN = r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
#: The same, or "" (none).
OPTIONAL_QUANTITY_PATTERN = r"^([+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?)?$"
#: The largest amount a Kubernetes quantity holds (apimachinery quantity.go: "no quantity may represent a number
#: greater than 2^63-1"); a larger one is capped there, and vllmgen's arithmetic on it would overflow.
MAX_VALUE = Decimal(2**63 - 1)

#: An exponent beyond this makes a quantity 0 or infinite for every purpose (Decimal scales up to about 10^18).
_EXPONENT_BOUND = 10**15

_QUANTITY = re.compile(QUANTITY_PATTERN)
_SIGNED = re.compile(QUANTITY_PATTERN.replace("^[+]?", "^([+-]?)", 1))
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("0.001"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
            "P": Decimal(10**15), "E": Decimal(10**18)}


def is_quantity(text: str) -> bool:
    return bool(_QUANTITY.match(text))


def value(text: str | int | float, *, signed: bool = False) -> Decimal:
    """The quantity's value (`2Gi` -> 2147483648, `2G` -> 2000000000, `500m` -> 0.5, `1e3` -> 1000); ValueError
    when it is no quantity. `signed`: a `-` sign is taken too (a manifest's quantity, not a spec's size)."""
    if isinstance(text, (int, float)):
        return Decimal(str(text))
    m = (_SIGNED if signed else _QUANTITY).match(text)
    if not m:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    groups = m.groups()[1:] if signed else m.groups()
    number, suffix = Decimal(groups[0]), groups[2] or ""
    if signed and m.group(1) == "-":
        number = -number
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    exponent = int(suffix[1:])
    if abs(exponent) > _EXPONENT_BOUND:  # `9e+4258981535500524732322`: past what Decimal scales, and past any size
        return Decimal(0) if exponent < 0 or not number else Decimal("Infinity").copy_sign(number)
    with localcontext() as ctx:  # `1e99999999999999`: Infinity (above MAX_VALUE), not an exception
        ctx.Emax, ctx.Emin, ctx.traps[Overflow] = MAX_EMAX, MIN_EMIN, False
        return number.scaleb(exponent)
