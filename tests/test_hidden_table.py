"""The hidden answers computed once per run on the host and handed to each kernel zygote.

grader.sandbox.hidden_table: the table round-trips bit for bit; a table with another key,
an unreadable one or one in a place others can write is never used (the zygote computes
its own, as before); kernel zygotes given the run's table compute no hidden answer; every
kernel zygote of an `autograde` run with 2 workers got its answers from the run's table.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import hidden_table, kernel_preload

#: Cheap functions (no training run): their hidden answers take well under a second.
FUNCTIONS = ["sigmoid_prime", "output_delta"]


def _same(a, b) -> bool:
    """Equal bit for bit: the same types, dtypes, shapes, memory order and bytes."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and a.flags.f_contiguous == b.flags.f_contiguous
            and a.tobytes() == b.tobytes()
        )
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "__dataclass_fields__"):
        return all(_same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


@pytest.fixture
def own_tables(monkeypatch):
    """This process's hidden answers and ReferenceTruth's methods, restored afterwards; the
    kernels' BLAS thread settings in the environment (part of a table's key: FUNCTIONS'
    answers are elementwise, the same with any number of threads)."""
    from grader.judge import hidden

    for name in hidden_table.THREAD_VARS:
        monkeypatch.setenv(name, "1")

    methods = {m: hidden.ReferenceTruth.__dict__[m] for m in kernel_preload.MEMOIZED}
    saved = {k: dict(v) for k, v in kernel_preload.TABLES.items()}
    computed = kernel_preload.COMPUTED[0]
    kernel_preload.TABLES.clear()
    yield kernel_preload.TABLES
    for name, method in methods.items():
        setattr(hidden.ReferenceTruth, name, method)
    kernel_preload.TABLES.clear()
    kernel_preload.TABLES.update(saved)
    kernel_preload.COMPUTED[0] = computed


@pytest.fixture(scope="module")
def table_bytes() -> bytes:
    """A table of FUNCTIONS' hidden answers, as the run's builder writes it (a fresh process
    in the kernels' environment)."""
    build = hidden_table.start_build(FUNCTIONS)
    assert build is not None
    try:
        data = build.result()
        assert data, build.log.read_text()
        return data
    finally:
        build.close()


def test_the_table_gives_back_every_answer_bit_for_bit(own_tables, table_bytes):
    key, tables = hidden_table.decode(table_bytes)
    assert key == hidden_table.table_key(FUNCTIONS)
    kernel_preload.precompute_hidden(FUNCTIONS)  # what a zygote computes without the table
    assert set(tables) == set(own_tables) and any(own_tables.values())
    for name, entries in own_tables.items():
        assert set(entries) == set(tables[name]), name
        for k, answer in entries.items():
            assert _same(answer, tables[name][k]), (name, k.hex())
    again = hidden_table.encode(own_tables, key)
    assert hidden_table.decode(again)[0] == key


def test_a_zygote_with_the_table_computes_no_hidden_answer(own_tables, table_bytes):
    from backprop_checks import checks

    from grader.judge import reference

    assert hidden_table.install(table_bytes, FUNCTIONS) == ""
    before = kernel_preload.COMPUTED[0]
    n = sum(len(t) for t in own_tables.values())
    for name in FUNCTIONS:  # a student's hidden check: every right answer is already there
        result = checks.run_check(name, getattr(reference, name), hidden=True)
        assert result.passed, result.message
    assert kernel_preload.COMPUTED[0] == before
    assert sum(len(t) for t in own_tables.values()) == n


@pytest.mark.parametrize(
    "change",
    ["functions", "code", "machine", "threads", "format"],
)
def test_a_table_with_another_key_is_refused(own_tables, table_bytes, change):
    key, tables = hidden_table.decode(table_bytes)
    other = dict(key)
    other[change] = ["train"] if change == "functions" else "something else"
    data = hidden_table.encode(tables, other)
    why = hidden_table.install(data, FUNCTIONS)
    assert why.startswith("the table was computed for another") and change in why
    assert not any(own_tables.values())  # nothing installed


def test_a_table_that_is_not_one_is_refused(own_tables, table_bytes):
    for data in (b"not a table", table_bytes[: len(table_bytes) // 2]):
        assert hidden_table.install(data, FUNCTIONS).startswith("unreadable table")
    # numpy's object arrays need pickle: never loaded
    out = io.BytesIO()
    np.savez(out, meta=np.array([{"key": 1}], dtype=object), data=np.zeros(1, np.uint8))
    assert hidden_table.install(out.getvalue(), FUNCTIONS).startswith("unreadable table")
    assert not any(own_tables.values())


def test_a_table_others_can_write_is_not_read(tmp_path: Path, table_bytes):
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    path = folder / "hidden.npz"
    path.write_bytes(table_bytes)
    os.chmod(path, 0o400)
    assert hidden_table.read_table(path, timeout=0) == table_bytes
    os.chmod(path, 0o622)  # the file writable by others
    assert hidden_table.read_table(path, timeout=0) == b""
    os.chmod(path, 0o400)
    os.chmod(folder, 0o777)  # the folder: another user could replace the file
    assert hidden_table.read_table(path, timeout=0) == b""
    os.chmod(folder, 0o700)
    link = folder / "link.npz"
    link.symlink_to(path)
    assert hidden_table.read_table(link, timeout=0) == b""
    failed = folder / "gone.npz"
    (folder / ("gone.npz" + hidden_table.FAILED_SUFFIX)).touch()  # the builder failed
    assert hidden_table.read_table(failed, timeout=30) == b""


def _bwrap() -> None:
    from grader.sandbox.plan import bwrap_status

    if not bwrap_status().usable:
        pytest.skip(f"bubblewrap cannot run here: {bwrap_status().reason}")


@pytest.mark.slow
def test_kernel_zygotes_given_the_runs_table_compute_nothing(monkeypatch, table_bytes):
    """Two kernel zygotes (two workers') with the run's table: each has every answer and
    computed none; one given a table for other functions computes its own, and says why."""
    from grader.sandbox import zygote_host
    from grader.sandbox.plan import Limits, make_plan, run_dir

    _bwrap()
    plan, _ = make_plan(Limits(), course=None, mode="require")
    monkeypatch.setenv(kernel_preload.PRECOMPUTE_ENV, ",".join(FUNCTIONS))
    answers = sum(len(t) for t in hidden_table.decode(table_bytes)[1].values())
    seen = []
    for given in (table_bytes, table_bytes, b""):
        monkeypatch.setattr(hidden_table, "_OFFERED", [given])
        z = zygote_host.Zygote(plan, "kernel", run_dir())
        try:
            seen.append(dict(z.hidden))
        finally:
            z.close()
    assert (
        seen[0]
        == seen[1]
        == {
            "source": "table",
            "reason": "",
            "answers": answers,
            "computed": 0,
        }
    )
    assert seen[2]["source"] == "computed" and seen[2]["computed"] == answers
    monkeypatch.setenv(kernel_preload.PRECOMPUTE_ENV, "sigmoid_prime")  # another key
    monkeypatch.setattr(hidden_table, "_OFFERED", [table_bytes])
    z = zygote_host.Zygote(plan, "kernel", run_dir())
    try:
        assert z.hidden["source"] == "computed", z.hidden
        assert "another functions" in z.hidden["reason"]
    finally:
        z.close()


@pytest.mark.slow
def test_every_kernel_zygote_of_a_run_read_the_runs_table(graded):
    """`autograde --workers 2`: each worker's kernel zygote says (in its worker's log)
    that its hidden answers came from the run's table, none computed in the zygote."""
    _bwrap()
    lines = []
    for log in sorted((graded.root / ".grader" / "logs").glob("worker-*.log")):
        lines += re.findall(r"kernel zygote \d+: .*", log.read_text(errors="replace"))
    assert len(lines) >= 2, lines  # two workers, each with its own zygote
    for line in lines:
        assert "hidden answers from the run's table" in line, line
        assert line.endswith(" 0 computed in the zygote"), line
