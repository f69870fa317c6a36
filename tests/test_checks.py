"""backprop_checks.checks held against a corpus of students' answers (tests/corpus/).

Right answers in other styles pass both flavours; every misconception of the spec's
table is named in the failure of a wrong answer; visible checks run without reference.py;
a patched numpy.allclose does not turn a wrong answer into a pass; nothing reaches stderr.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from backprop_checks import checks
from backprop_checks.catalog import MISCONCEPTIONS
from backprop_checks.observe import Observation, observe, observe_cases
from corpus import wrong
from corpus.right import RIGHT
from corpus.wrong import WRONG
from notebook_tools import SEED_NAME

import grader
from grader.judge import cases, diagnose, reference

TESTS = Path(__file__).resolve().parent
GRADER = Path(grader.__file__).resolve().parent
ALL_TAGS = set(MISCONCEPTIONS)  # every misconception the checks name

RIGHT_CASES = [(name, fn) for name, fns in RIGHT.items() for fn in fns]


def _run_python(
    code: str, *, path: list[Path], timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter with the given folders first on sys.path."""
    prelude = "import sys\n" + "".join(
        f"sys.path.insert({i}, {str(p)!r})\n" for i, p in enumerate(path)
    )
    return subprocess.run(
        [os.path.abspath(sys.executable), "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=path[0],
    )


# --------------------------------------------------------------------------- the corpus


def test_corpus_covers_every_function_and_misconception():
    assert set(RIGHT) == set(cases.FUNCTIONS)
    assert {tag for _, _, tag, _ in WRONG} == ALL_TAGS


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize(("name", "fn"), RIGHT_CASES, ids=[fn.__name__ for _, fn in RIGHT_CASES])
def test_right_answer_in_another_style_passes(name, fn, hidden, capsys):
    getattr(checks, f"check_{name}")(fn, hidden=hidden)
    out, err = capsys.readouterr()
    assert err == ""
    assert len(out.splitlines()) == 1 and name in out


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize("name", cases.FUNCTIONS)
def test_reference_passes(name, hidden, capsys):
    assert checks.check(name, getattr(reference, name), hidden=hidden) is None
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("name", "fn", "tag", "hidden"),
    WRONG,
    ids=[f"{tag}-{fn.__name__}" for _, fn, tag, _ in WRONG],
)
def test_wrong_answer_names_its_misconception(name, fn, tag, hidden, capsys):
    with pytest.raises(checks.CheckFailure) as info:
        getattr(checks, f"check_{name}")(fn, hidden=hidden)
    message = str(info.value)
    assert f"[{tag}]" in message.splitlines()[0] or f"[{tag}]" in message, message
    assert tag in info.value.result.misconceptions
    assert isinstance(info.value, AssertionError)
    assert "Where to look:" in message
    assert capsys.readouterr().err == ""


def test_untagged_mistakes_still_say_what_the_answer_is():
    def forward_swapped(X, W1, b1, W2, b2):
        H, Y_hat = reference.forward(X, W1, b1, W2, b2)
        return Y_hat, H

    result = checks.run_check("forward", forward_swapped)
    assert "swapped" in result.message and result.misconceptions == []
    result = checks.run_check("df_dx", reference.df_dz)
    assert "that is df/dz" in result.message


def test_hardcoded_answer_passes_the_visible_flavour_only():
    fn = wrong.hardcoded("grad_b2")
    checks.check_grad_b2(fn)  # right on the visible examples
    result = checks.run_check("grad_b2", fn, hidden=True)
    assert not result.passed and result.misconceptions[0] == "M10"


def test_message_states_expected_got_and_input_shapes():
    result = checks.run_check("grad_W2", wrong.grad_W2_transposed)
    first, *rest = result.message.splitlines()
    assert first.startswith("grad_W2: [M1]")
    text = "\n".join(rest)
    assert "H (5, 4), delta2 (5, 2)" in text
    assert "expected" in text and "(shape (4, 2))" in text and "(shape (2, 4))" in text
    assert result.hint and result.case_id == "visible-1"


def test_seed004_answer_names_double_sigmoid_sign_and_factor_two():
    result = checks.run_check("output_delta", wrong.output_delta_seed004)
    assert result.misconceptions == ["M6", "M3", "M4"]
    assert not SEED_NAME.search(result.message) and "the lecture notes" in result.message


def test_train_losses_twice_the_loss_name_m4():
    def train_no_half(X, Y, n_hidden, lr, epochs, seed=0):
        params, losses = reference.train(X, Y, n_hidden, lr, epochs, seed)
        return params, [2 * v for v in losses]

    assert checks.run_check("train", train_no_half).misconceptions == ["M4"]


def test_train_that_updates_only_w2_is_told_which_parameters_stay():
    def train_only_W2(X, Y, n_hidden, lr, epochs, seed=0):
        p = reference.init_params(X.shape[1], n_hidden, Y.shape[1], seed)
        losses = []
        for _ in range(epochs):
            _, Y_hat = reference.forward(X, **p)
            losses.append(reference.sse_loss(Y_hat, Y))
            g = reference.backprop(X, Y, **p)
            p["W2"] = p["W2"] - lr * g["W2"]
        return p, losses

    result = checks.run_check("train", train_only_W2, hidden=True)
    assert not result.passed and result.misconceptions == []
    assert "one epoch leaves W1, b1, b2 unchanged" in result.message


def test_train_with_half_the_learning_rate_fails_the_visible_check():
    """A run that goes down but ignores part of lr looks fine by its behaviour; the replay
    of one epoch names the step."""

    def train_half_lr(X, Y, n_hidden, lr, epochs, seed=0):
        return reference.train(X, Y, n_hidden, lr / 2, epochs, seed)

    result = checks.run_check("train", train_half_lr)
    assert not result.passed and result.misconceptions == []
    assert "one epoch's step is half the gradient-descent step" in result.message


def test_quadratic_raises_a_clear_error_for_a_slice():
    def numerical_gradient(fn, W, eps=1e-5):
        return np.array([fn(W[i]) for i in range(len(W))])

    result = checks.run_check("numerical_gradient", numerical_gradient)
    assert "pass the whole (nudged) W to fn" in result.message
    assert "in <listcomp>: return np.array([fn(W[i])" in result.message  # the student's line


# --------------------------------------------------------------------------- exceptions


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("raise NotImplementedError()", "still the stub"),
        ("return H.T @ dleta2", "NameError: name 'dleta2' is not defined"),
        ("return H * delta2", "shapes do not fit"),
        ("H.T @ delta2", "returned None"),
        ("return (H.T @ delta2).tolist()", "expected an array, got a list"),
    ],
    ids=["stub", "name-error", "broadcast", "no-return", "list"],
)
def test_student_exceptions_become_friendly_messages(body, needle, capsys):
    namespace: dict = {"np": np}
    exec(f"def grad_W2(H, delta2):\n    {body}\n", namespace)
    with pytest.raises(checks.CheckFailure) as info:
        checks.check_grad_W2(namespace["grad_W2"])
    assert needle in str(info.value)
    assert str(info.value).startswith("grad_W2: ")
    assert capsys.readouterr().err == ""


def test_untouched_stub_is_called_once():
    calls = []

    def stub(delta2):
        calls.append(1)
        raise NotImplementedError()

    assert not checks.run_check("grad_b2", stub, hidden=True).passed
    assert len(calls) == 1


# --------------------------------------------------------------------------- untrusted process


class AlwaysEqual:
    """Compares equal to everything and converts to the right shape of zeros."""

    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):
        return np.zeros((4, 2))


class EqualToAll:
    def __eq__(self, other):
        return True


class LyingArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)

    def __sub__(self, other):
        return np.zeros(self.shape)


@pytest.mark.parametrize(
    "fn",
    [
        lambda H, delta2: AlwaysEqual(),
        lambda H, delta2: np.zeros((H.shape[1], delta2.shape[1])).view(LyingArray),
        lambda H, delta2: np.array([[EqualToAll()] * delta2.shape[1]] * H.shape[1]),
    ],
    ids=["always-equal-object", "ndarray-subclass", "object-array"],
)
def test_objects_that_compare_equal_to_everything_fail(fn):
    result = checks.run_check("grad_W2", fn)
    assert not result.passed
    assert "expected an array" in result.message or "holds no numbers" in result.message


def test_patched_allclose_in_process_does_not_pass_a_wrong_answer(monkeypatch):
    for fname in ("allclose", "array_equal", "isclose", "all", "abs", "max"):
        monkeypatch.setattr(np, fname, lambda *a, **k: True)
    monkeypatch.setattr(np.testing, "assert_allclose", lambda *a, **k: None)
    with pytest.raises(checks.CheckFailure, match=r"\[M1\]"):
        checks.check_grad_W2(wrong.grad_W2_transposed)
    with pytest.raises(checks.CheckFailure, match=r"\[M7\]"):
        checks.check_output_delta(wrong.output_delta_no_factor, hidden=True)


def test_patched_allclose_before_and_after_import_does_not_pass_a_wrong_answer():
    code = """
        import numpy as np
        def always(*a, **k):
            return True
        np.allclose = always                     # before backprop_checks.checks is imported
        np.testing.assert_allclose = lambda *a, **k: None
        from backprop_checks import checks
        from corpus import wrong
        def expect_failure(check, fn, **kw):
            try:
                check(fn, **kw)
            except checks.CheckFailure as exc:
                return str(exc).splitlines()[0]
            raise SystemExit(f"PASSED WRONGLY: {fn.__name__}")
        print(expect_failure(checks.check_grad_W2, wrong.grad_W2_mean))
        np.allclose = always                     # and again after the import
        np.isclose = always
        np.array_equal = always
        print(expect_failure(checks.check_sse_loss, wrong.sse_loss_no_half))
        print(expect_failure(checks.check_hidden_delta, wrong.hidden_delta_double, hidden=True))
        def cheat(H, delta2):                     # uses the patched allclose itself
            return H.T @ delta2 * 1.001 if np.allclose(H, H) else None
        print(expect_failure(checks.check_grad_W2, cheat))
    """
    proc = _run_python(code, path=[TESTS, GRADER.parent])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "[M5]" in lines[0] and "[M4]" in lines[1] and "[M6]" in lines[2]
    assert lines[3].startswith("grad_W2: the values differ")
    assert proc.stderr == ""


# --------------------------------------------------------------------------- no reference


def test_visible_checks_run_without_reference_py(tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(GRADER, copy / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    student = GRADER.parent / "student" / "backprop_checks"  # what test cells import
    shutil.copytree(student, copy / "backprop_checks", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "grader" / "judge" / "reference.py").unlink()
    code = """
        # A student's machine has no editable install of the course: drop its import hook,
        # which would otherwise find reference.py in the repository.
        sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in repr(f)]
        import grader
        assert grader.__file__.startswith(sys.path[0]), grader.__file__
        try:
            import grader.judge.reference
        except ImportError:
            pass
        else:
            raise SystemExit("reference.py is importable")
        import backprop_checks.checks as checks
        from corpus.right import RIGHT
        from corpus import wrong
        for name, fns in RIGHT.items():
            for fn in fns:
                getattr(checks, "check_" + name)(fn)
        try:
            checks.check_grad_W2(wrong.grad_W2_transposed)
        except checks.CheckFailure as exc:
            print("FAILED AS IT SHOULD", exc.result.misconceptions)
        try:
            checks.check_grad_W2(RIGHT["grad_W2"][0], hidden=True)
        except Exception as exc:
            print("HIDDEN:", type(exc).__name__)
        assert "grader.judge.reference" not in sys.modules
    """
    proc = _run_python(code, path=[copy, TESTS])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    n_right = sum(len(fns) for fns in RIGHT.values())
    out = proc.stdout.splitlines()
    assert len([line for line in out if ": right on " in line]) == n_right
    assert "FAILED AS IT SHOULD ['M1']" in out
    assert "HIDDEN: ReferenceMissing" in out
    assert proc.stderr == ""


# --------------------------------------------------------------------------- stderr


def test_overflowing_sigmoid_writes_nothing_to_stderr():
    code = """
        from backprop_checks import checks
        from corpus import wrong
        from corpus.right import sigmoid_masked
        checks.check_sigmoid(sigmoid_masked)
        checks.check_sigmoid(sigmoid_masked, hidden=True)
        for fn in (wrong.sigmoid_naive, wrong.sigmoid_naive_ratio, wrong.sigmoid_prime_naive):
            for hidden in (False, True):
                try:
                    check = checks.check_sigmoid if fn.__name__.startswith("sigmoid_n") else (
                        checks.check_sigmoid_prime)
                    check(fn, hidden=hidden)
                except checks.CheckFailure as exc:
                    print(exc.result.misconceptions)
    """
    proc = _run_python(code, path=[TESTS, GRADER.parent])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.count("['M12']") == 6


def test_checks_leak_no_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(checks.CheckFailure):
            checks.check_sigmoid(wrong.sigmoid_naive)
        checks.check_sigmoid(RIGHT["sigmoid"][0], hidden=True)
    assert caught == []


# --------------------------------------------------------------------------- split process


@pytest.mark.parametrize(
    ("name", "fn", "passed"),
    [
        ("backprop", RIGHT["backprop"][0], True),
        ("forward", wrong.forward_no_output_sigmoid, False),
        ("numerical_gradient", wrong.numerical_gradient_unrestored, False),
    ],
    ids=["right", "wrong", "mutating"],
)
@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_judge_works_on_observations_from_elsewhere(name, fn, passed, hidden):
    """Cases and observations pickle; judging them after the round trip changes nothing."""
    case_list = cases.hidden_cases(name) if hidden else cases.visible_cases(name)
    obs = [
        observe(fn, cases.build_args(c), name=name, case_id=c["id"], arg_names=list(c["args"]))
        for c in case_list
    ]
    shipped_cases, shipped_obs = pickle.loads(pickle.dumps((case_list, obs)))
    assert all(type(o) is Observation for o in shipped_obs)
    direct = checks.run_check(name, fn, hidden=hidden)
    result = checks.judge(name, shipped_cases, shipped_obs, hidden=hidden)
    assert result.passed is passed
    assert (result.message, result.misconceptions) == (direct.message, direct.misconceptions)


def test_judge_rejects_misaligned_or_malformed_observations():
    case_list = cases.visible_cases("grad_b2")
    obs = observe_cases(RIGHT["grad_b2"][0], case_list)
    with pytest.raises(ValueError, match="given for"):
        checks.judge("grad_b2", case_list, obs[::-1], hidden=False)
    with pytest.raises(ValueError, match="observations"):
        checks.judge("grad_b2", case_list, obs[:1], hidden=False)
    stub = observe_cases(lambda delta2: (_ for _ in ()).throw(NotImplementedError()), case_list)
    assert len(stub) == 1
    assert "still the stub" in checks.judge("grad_b2", case_list, stub, hidden=False).message


def test_cases_are_deterministic_and_cover_the_spec_shapes():
    a, b = cases.hidden_cases("grad_W1", seed=3), cases.hidden_cases("grad_W1", seed=3)
    assert all((x["args"]["X"] == y["args"]["X"]).all() for x, y in zip(a, b, strict=True))
    ns = {c["args"]["X"].shape[0] for c in a}
    assert {1, 2, 10, 10_000} <= ns
    assert any(c["args"]["delta1"].shape[1] == 1 for c in a)  # h = 1
    assert any(c["context"]["Y"].shape[1] > 1 for c in a)  # o > 1
    other = cases.hidden_cases("grad_W1", seed=4)
    assert not (other[-1]["args"]["X"] == a[-1]["args"]["X"]).all()


def test_diagnose_never_asserts_and_names_a_transpose():
    expected = np.arange(6.0).reshape(2, 3)
    expl = diagnose.explain_values("grad_W2", "result", {}, {}, expected, expected.T.copy())
    assert expl.tags == ("M1",)
    expl = diagnose.explain_values("grad_W2", "result", {}, {}, expected, np.ones((5, 5)))
    assert expl.tags == ("M2",) and "(2, 3)" in expl.text and "(5, 5)" in expl.text


# --------------------------------------------------------------------------- a real kernel


@pytest.mark.slow
def test_in_a_real_kernel_right_answers_leave_no_stderr_and_wrong_ones_an_error():
    """Test cells as nbgrader runs them: a right answer gives one stdout line and no stderr
    stream; an overflowing sigmoid gives a CheckFailure error output naming M12, no stderr."""
    import nbformat
    from nbclient import NotebookClient

    setup = f"import sys\nsys.path.insert(0, {str(TESTS)!r})\nimport numpy as np"
    right = "from corpus.right import sigmoid_masked as sigmoid, train_einsum_inplace as train"
    cells = [
        setup,
        right,
        "from backprop_checks import checks\nchecks.check_sigmoid(sigmoid)",
        "from backprop_checks import checks\nchecks.check_sigmoid(sigmoid, hidden=True)",
        "checks.check_train(train, hidden=True)",
        "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n\nchecks.check_sigmoid(sigmoid)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    outputs = [cell.outputs for cell in nb.cells]
    for out in outputs:
        assert not [o for o in out if o.get("name") == "stderr"], out
    for out in outputs[2:5]:
        assert [o.output_type for o in out] == ["stream"] and "right on all" in out[0].text
    (error,) = outputs[5]
    assert error.output_type == "error" and error.ename == "CheckFailure"
    assert "[M12]" in error.evalue


def test_a_function_that_prints_to_stderr_leaves_the_cell_clean(capsys):
    """stderr stays captured (nbgrader scores it as a failure); the student's own prints to
    stdout are shown, before the check's line."""

    def grad_b1(delta1):
        print("debugging", delta1.shape, file=sys.stderr)
        print("more debugging")
        return delta1.sum(axis=0)

    checks.check_grad_b1(grad_b1, hidden=True)
    out, err = capsys.readouterr()
    n = len(cases.hidden_cases("grad_b1"))
    assert err == "" and "debugging (" not in out
    assert out.splitlines() == ["more debugging"] * n + [out.splitlines()[-1]]
    assert out.splitlines()[-1].startswith("grad_b1: right on all")
    obs = observe(grad_b1, [np.ones((3, 2))])
    assert "debugging (3, 2)" in obs.stderr and "more debugging" in obs.stdout
