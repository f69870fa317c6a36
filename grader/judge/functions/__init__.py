"""The course's student functions: one record each, everything the grader knows of it.

    grader/judge/functions/nb01_partial_derivatives.py   df_dx, df_dz, numerical_derivative,
                                                          numerical_gradient
    grader/judge/functions/nb02_sigmoid_derivative.py    sigmoid, sigmoid_prime, ...
    ...
    grader/judge/functions/nb05_backprop_W1.py           hidden_delta, ..., backprop, train

A module `nbNN_<topic>.py` holds the functions of notebook `NN_<topic>` as `RECORDS`, a list
of `Function`s (grader/judge/functions/record.py) in the order the notebook teaches them; the
modules are read in the order of their names. Everything else reads these records: the
checks' cases (`grader.judge.cases`), the right answers (`expect`), the known wrong formulas
(`diagnose`), the student package's data (`make handout`: the public half of each record and
its visible examples), the demo class's wrong answers. Adding a function is adding a record
(docs/extending.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import replace
from functools import lru_cache

from grader.judge.functions.record import Function, RecordError

__all__ = ["FUNCTIONS", "SIGNATURES", "Function", "RecordError", "get", "records"]


@lru_cache(maxsize=1)
def _load() -> dict[str, Function]:
    found: dict[str, Function] = {}
    modules = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("nb"))
    for module_name in modules:
        where = f"grader/judge/functions/{module_name}.py"
        notebook = module_name[2:]
        module = importlib.import_module(f"{__name__}.{module_name}")
        listed = getattr(module, "RECORDS", None)
        if not isinstance(listed, list) or not all(isinstance(r, Function) for r in listed):
            raise RecordError(f"{where}: RECORDS must be a list of Function records")
        for record in listed:
            if record.notebook and record.notebook != notebook:
                raise RecordError(
                    f"{where}: record {record.name!r} says notebook {record.notebook!r}: a "
                    f"record belongs to its module's notebook ({notebook}); move it there"
                )
            record.validate(where)
            if record.name in found:
                raise RecordError(
                    f"{where}: {record.name!r} has a record in "
                    f"{found[record.name].notebook} already: one record per function"
                )
            found[record.name] = replace(record, notebook=notebook)
    return found


def records() -> list[Function]:
    """Every record, in teaching order."""
    return list(_load().values())


def get(name: str) -> Function:
    """The record of student function `name`."""
    found = _load().get(name)
    if found is None:
        raise KeyError(f"no check for {name!r}: the course's functions are {', '.join(_load())}")
    return found


#: Every student function of the course, in teaching order, with its arguments in call order.
SIGNATURES: dict[str, tuple[str, ...]] = {r.name: tuple(r.args) for r in records()}
FUNCTIONS: tuple[str, ...] = tuple(SIGNATURES)
