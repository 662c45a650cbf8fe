"""How every check answers: one printed verdict ("Correct!" or "Not yet:" with a hint), True or False, and
never an exception because of the learner's answer (an unfinished `...`, a wrong type or a crash all get a hint)."""

from __future__ import annotations

from typing import Any, Callable

import torch

__all__ = ["PLACEHOLDER", "verdict", "unfinished", "call", "call_numbers", "check_tensor_fn"]

PLACEHOLDER = "...  # your code here"


def verdict(ok: bool, message: str, hint: str = "") -> bool:
    if ok:
        print(f"Correct! {message}")
    else:
        print(f"Not yet: {message}" + (f"\nHint: {hint}" if hint else ""))
    return ok


def unfinished(answer: Any) -> bool:
    return answer is Ellipsis or answer is None


def call(fn: Callable, *args: Any) -> tuple[Any, str]:
    """(result, "") or (None, a description of what went wrong)."""
    if unfinished(fn) or not callable(fn):
        return None, "the answer is not a function yet"
    try:
        result = fn(*args)
    except Exception as e:  # the learner's code may fail in any way: report it, do not crash the notebook
        return None, f"your function raised {type(e).__name__}: {e}"
    if unfinished(result):
        return None, "your function returns nothing yet (replace the `...`)"
    return result, ""


def call_numbers(fn: Callable, *args: Any, n: int = 1, what: str = "one number") -> tuple[Any, str]:
    """`call(fn, *args)`, its result read as `n` numbers: (a float when n == 1, else a tuple of n floats, "")
    or (None, what went wrong, e.g. "return two numbers: (low, high) (got str)")."""
    got, problem = call(fn, *args)
    if problem:
        return None, problem
    try:
        values = (float(got),) if n == 1 else tuple(float(x) for x in got)
    except (TypeError, ValueError):
        values = ()
    if len(values) != n:
        return None, f"return {what} (got {type(got).__name__})"
    return (values[0] if n == 1 else values), ""


def check_tensor_fn(
    fn: Callable, args: tuple, expected: torch.Tensor, near_miss: torch.Tensor, near_miss_msg: str,
    wrong_msg: str, right_msg: str, hint: str, atol: float,
) -> bool:
    """Shared check: `fn(*args)` must equal `expected`; `near_miss` is the common wrong answer.

    "Equal" is `torch.allclose` at `atol` (and rtol 1e-5), never bit for bit: a right answer written
    another way, or run on another CPU's kernels, sums in another order and differs in its last digits."""
    got, problem = call(fn, *args)
    if problem:
        return verdict(False, problem, hint)
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return verdict(False, f"expected a tensor of shape {tuple(expected.shape)}, got {getattr(got, 'shape', type(got).__name__)}", hint)
    if torch.allclose(got.float(), near_miss, atol=atol):
        return verdict(False, near_miss_msg, hint)
    if not torch.allclose(got.float(), expected, atol=atol):
        return verdict(False, wrong_msg, hint)
    return verdict(True, right_msg)
