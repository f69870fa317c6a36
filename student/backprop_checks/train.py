"""The training run's check (a record whose result is "run": train), judged by behaviour.

train is held to its contract: it starts from init_params(c, n_hidden, o, seed), each epoch
moves every parameter by -lr * dL/dW, and losses[t] is the loss of the parameters at the
start of epoch t. The expected run is replayed (from the data file, or by the instructor's
package), so every entry of losses and the final parameters are compared; the replay cases
(0 and 1 epochs) name what differs: the start, the step, or what was recorded.
"""

from __future__ import annotations

import numpy as np

from backprop_checks import cases as _cases
from backprop_checks import diagnose
from backprop_checks import functions as _functions
from backprop_checks.blame import error_explanation, warned
from backprop_checks.compare import close, largest_difference
from backprop_checks.diagnose import Explanation
from backprop_checks.extract import array_of, explain_type, read_one
from backprop_checks.observe import Observation, Returned
from backprop_checks.truth import PARAM_NAMES, Params, Truth, params_close
from backprop_checks.verdict import CheckResult, Verdict, result_of


def _train_returned(
    case: _cases.Case, r: Returned | None
) -> tuple[dict | None, np.ndarray | None, Explanation | None]:
    name = case["name"]
    hint = _functions.hint(name)
    if r is None or r.kind not in ("tuple", "list") or len(r.items or []) != 2:
        kind, tname = (r.kind, r.type_name) if r else ("none", "None")
        return None, None, explain_type(name, "result", kind, tname, "tuple")
    pr, lr_ = r.items
    if pr.kind != "dict" or any(k not in (pr.keys or []) for k in PARAM_NAMES):
        text = f"params: expected a dict with keys W1, b1, W2, b2, got a {pr.type_name}" + (
            f" with keys {pr.keys}." if pr.keys is not None else "."
        )
        return None, None, Explanation((), text, hint)
    X, Y, h = case["args"]["X"], case["args"]["Y"], case["args"]["n_hidden"]
    c, o = X.shape[1], Y.shape[1]
    shapes = {"W1": (c, h), "b1": (h,), "W2": (h, o), "b2": (o,)}
    items = dict(zip(pr.keys, pr.items, strict=True))
    params = {}
    for key in PARAM_NAMES:
        arr, err = read_one(name, f'params["{key}"]', items[key], "array")
        if err:
            return None, None, err
        if arr.shape != shapes[key]:
            expl = diagnose.explain_shape(
                name, f'params["{key}"]', {"X": X, "Y": Y}, shapes[key], arr.shape
            )
            return None, None, expl
        params[key] = arr
    epochs = case["args"]["epochs"]
    if lr_.kind == "ndarray" and array_of(lr_) is not None and array_of(lr_).ndim == 1:
        losses = array_of(lr_)
    elif lr_.kind in ("list", "tuple") and all(it.kind == "float" for it in lr_.items or []):
        losses = array_of(lr_)
    else:
        return None, None, explain_type(name, "losses", lr_.kind, lr_.type_name, "list")
    if losses is None or losses.shape != (epochs,):
        got = "?" if losses is None else len(losses)
        text = f"losses: expected one float per epoch ({epochs}), got {got}."
        return None, None, Explanation((), text, hint)
    if (losses != losses).any() or (abs(losses) == float("inf")).any():
        return None, None, _diverged(name)
    return params, losses, None


def _diverged(name: str) -> Explanation:
    return Explanation(
        (),
        "losses: some are nan or inf (the training diverged: check that each function "
        "above passes its own check).",
        _functions.hint(name),
    )


def _losses_close(got: np.ndarray, want: np.ndarray) -> bool:
    return got.shape == want.shape and bool(
        (abs(got - want) <= 1e-6 * abs(want) + 1e-12).all()
    )


def _same_start(start: dict, known: Params | None) -> bool:
    return known is not None and params_close(start, known, rtol=1e-9)


def _start_explanation(case: _cases.Case, start: dict, truth: Truth) -> Explanation | None:
    """None when `start` is init_params(c, n_hidden, o, seed); else which weights it is."""
    a = case["args"]
    c, o, h, seed = a["X"].shape[1], a["Y"].shape[1], a["n_hidden"], a["seed"]
    if _same_start(start, truth.init_params(case, seed)):
        return None
    call = f"init_params({c}, {h}, {o}, seed={seed})"
    if seed != 0 and _same_start(start, truth.init_params(case, 0)):
        what, why = f"init_params({c}, {h}, {o}, seed=0)", ": the seed argument is ignored"
    elif _same_start(start, truth.init_params(case, seed + 1)):
        what, why = f"init_params({c}, {h}, {o}, seed={seed + 1})", ": seed + 1"
    else:
        what, why = "", ""
    if what:
        text = f"your training starts from {what}, not from {call}{why}."
    else:
        text = f"your train(..., epochs=0) returned other parameters than {call}."
    hint = (
        "start from the weights init_params gives for (number of inputs, n_hidden, number "
        "of outputs, seed), the weights "
        "the notebook provides, so your run can be compared epoch by epoch."
    )
    return Explanation((), text, hint)


def _step_explanation(
    case: _cases.Case, start: dict, after: dict, truth: Truth
) -> tuple[Explanation | None, float | None]:
    """(None, 1.0) when `after` is one gradient-descent step from `start`; else what the step
    is, and the factor it is of the right step when it is one (else None). (None, None) when
    the gradients at `start` are unknown here."""
    name, a = case["name"], case["args"]
    X, Y, lr = a["X"], a["Y"], a["lr"]
    g = truth.gradients(case, start)
    if g is None:
        return None, None
    want = {k: start[k] - lr * g[k] for k in PARAM_NAMES}
    if params_close(after, want, rtol=1e-6):
        return None, 1.0
    moved = {k: after[k] - start[k] for k in PARAM_NAMES}
    still = [k for k in PARAM_NAMES if not abs(moved[k]).max() > 0]
    if still:
        text = (
            f"one epoch leaves {', '.join(still)} unchanged: the update must change all four "
            "parameters."
        )
        return Explanation((), text, _functions.hint(name)), None
    num = sum(float((moved[k] * (-lr * g[k])).sum()) for k in PARAM_NAMES)
    den = sum(float(((lr * g[k]) ** 2).sum()) for k in PARAM_NAMES)
    factor = num / den if den > 0 else 0.0
    exact = all(
        close(moved[k], -factor * lr * g[k], rtol=1e-5, atol=1e-12)
        for k in PARAM_NAMES
    )
    n, o = X.shape[0], Y.shape[1]
    if exact:
        named = diagnose.step_factor(factor, n, o)
        if named is not None:
            tags, what = named
            text = f"one epoch's step is {what} the gradient-descent step -lr * dL/dW."
            return diagnose.explanation(tags, text, name), factor
    text = (
        f"one epoch does not move the parameters by -lr * dL/dW ({_worst_param(after, want)})."
    )
    return Explanation((), text, _functions.hint(name)), None


def _worst_param(got: dict, want: dict) -> str:
    """"largest difference in W1 at index (0, 1): expected ..., got ..."."""
    k = max(PARAM_NAMES, key=lambda k: float(abs(got[k] - want[k]).max()))
    where = largest_difference(want[k], got[k]).removeprefix("largest difference")
    return f"largest difference in {k}{where}"


def _record_explanation(
    case: _cases.Case, losses: np.ndarray, own: list[float]
) -> tuple[Explanation | None, np.ndarray]:
    """None when every losses[t] is the loss of the parameters at the start of epoch t of
    the trajectory `own` (epochs + 1 losses); else what the recorded losses are."""
    m = len(losses)
    before, after = np.array(own[:m]), np.array(own[1 : m + 1])
    if _losses_close(losses, before):
        return None, before
    name = case["name"]
    hint = _functions.hint(name)
    if _losses_close(losses, after):
        text = (
            "losses[t] is the loss after the update of epoch t; it must be the loss before it "
            f"(losses[0] = {before[0]:.6g}, the loss of the starting weights)."
        )
        return Explanation((), text, hint), before
    n, o = case["args"]["X"].shape[0], case["args"]["Y"].shape[1]
    for ref in (before, after):
        for factor, tags, what in diagnose.loss_factors(n, o):
            if _losses_close(losses, factor * ref):
                text = f"your recorded losses are {what} the loss of the parameters."
                return diagnose.explanation(tags, text, name), before
    k = next(i for i in range(m) if not _losses_close(losses[i : i + 1], before[i : i + 1]))
    text = (
        f"losses[{k}] = {losses[k]:.6g} is not the loss of the parameters at the start of "
        f"epoch {k} ({before[k]:.6g}): record sse_loss of the current parameters, every epoch."
    )
    return Explanation((), text, hint), before


def judge_train(
    name: str,
    cases: list[_cases.Case],
    observations: list[Observation],
    *,
    hidden: bool,
    truth: Truth,
    sound: frozenset[str] = frozenset(),
) -> CheckResult:
    """train is held to its contract: it starts from init_params(c, n_hidden, o, seed), each
    epoch moves every parameter by -lr * dL/dW, and losses[t] is the loss of the parameters
    at the start of epoch t. The expected run is replayed here (reference-free), so every
    entry of losses and the final parameters are compared; the replay cases (0 and 1 epochs)
    name what differs: the start, the step, or what was recorded."""
    by_id = {c["id"]: (c, o) for c, o in zip(cases, observations, strict=True)}
    verdicts: list[Verdict] = []
    for case, obs in zip(cases, observations, strict=True):
        v = Verdict(True)
        verdicts.append(v)
        if _cases.is_replay(case):
            continue  # read together with the case it replays
        if obs.error is not None:
            v.ok = False
            start_shapes = _start_shapes(case, by_id)
            if start_shapes is not None:
                v.explanations.append(start_shapes)
            v.explanations.append(error_explanation(name, obs, sound))
            continue
        params, losses, err = _train_returned(case, obs.returned)
        if obs.mutated:  # the root cause of whatever else differs: named first and alone
            v.ok = False
            v.explanations = [_changed_data(name, obs.mutated)]
            continue
        warning = warned(name, obs)
        if warning is not None:
            v.ok = False
            v.explanations.append(warning)
        if err is not None:
            v.ok = False
            v.explanations.insert(0, err)
            continue
        a = case["args"]
        contract = truth.init_params(case, a["seed"])
        run = truth.descent(case, contract, a["lr"]) if contract is not None else None
        if run is None:  # cannot happen with either Truth; never pass silently
            v.ok = False
            v.explanations.append(Explanation((), "no expected run for this case.", ""))
            continue
        final, own = run
        if _losses_close(losses, np.array(own[:-1])) and params_close(params, final, 1e-5):
            continue
        v.ok = False
        # What differs: the start, the step, or the recording (read from the replays).
        start = _replayed(case, 0, by_id)
        after = _replayed(case, 1, by_id)
        found: list[Explanation] = []
        first_only = False
        if start is not None:
            expl = _start_explanation(case, start, truth)
            if expl is not None:
                found.append(expl)
                final, own = truth.descent(case, start, a["lr"]) or (None, None)
            if after is not None:
                expl, factor = _step_explanation(case, start, after, truth)
                if expl is not None:
                    found.append(expl)
                    # read the losses along the student's own steps when they are known ones
                    lr = a["lr"] * factor if factor is not None else a["lr"]
                    final, own = truth.descent(case, start, lr) or (None, None)
                    if factor is None and own is not None:
                        losses, own = losses[:1], own[:2]  # only the first is known
                        first_only = True
        if own is None:  # a run this package does not hold: named at grading time
            found.append(Explanation(
                (),
                "your run differs from the expected one, and from other starting weights than "
                "the course's its losses cannot be checked here (the hidden tests name it).",
                _functions.hint(name),
            ))
        else:
            recorded, shown = _record_explanation(case, losses, own)
            if recorded is not None:
                found.append(recorded)
                if first_only:  # one number compared, whatever the epochs: shown as one
                    v.shown.append(("losses[0]", shown[:1].reshape(()), losses[:1].reshape(())))
                else:
                    v.shown.append(("losses", shown, losses))
        if not found:
            if losses[-1] > losses[0]:
                found.append(diagnose.explanation(
                    ("M3",),
                    f"the loss went up, from {losses[0]:.4g} to {losses[-1]:.4g}: the update "
                    "climbs the loss (W <- W + lr * dL/dW?).",
                    name,
                ))
            else:
                found.append(Explanation(
                    (),
                    "the losses are the losses of your parameters, but the returned parameters "
                    f"are not those after {a['epochs']} epochs "
                    f"({_worst_param(params, final)}).",
                    _functions.hint(name),
                ))
        v.explanations[:0] = found
    return result_of(name, cases, verdicts, hidden)


def _changed_data(name: str, mutated: dict[str, float]) -> Explanation:
    """M11 for a train that changes its arguments (X, Y): the run is then made on other data
    than the caller's, so nothing else about it can be read."""
    changed = " and ".join(mutated)
    size = max(mutated.values())
    by = "its shape or type" if size == float("inf") else f"entries by up to {size:.3g}"
    text = (
        f"{changed} {'was' if len(mutated) == 1 else 'were'} changed in place ({by}): the "
        f"caller's {changed} is changed, and the run trained on other data than it was "
        "given, so its losses and parameters are not compared until this is fixed."
    )
    return diagnose.explanation(("M11",), text, name)


def _start_shapes(case: _cases.Case, by_id: dict) -> Explanation | None:
    """When train raised and its epochs=0 replay returned parameters of the wrong shapes: the
    starting weights are misshapen (init_params called with its arguments out of order?),
    which is what the error later in the run comes from."""
    found = by_id.get(f"{case['id']}-epochs0")
    if found is None or found[1].error is not None:
        return None
    _, _, err = _train_returned(found[0], found[1].returned)
    if err is None or "expected shape" not in err.text:
        return None
    a = case["args"]
    c, o, h = a["X"].shape[1], a["Y"].shape[1], a["n_hidden"]
    text = (
        f"your train(..., epochs=0) returns {err.text.rstrip('.')}: the starting weights "
        f"have the wrong shapes; they are init_params(c, n_hidden, o, seed) = "
        f"init_params({c}, {h}, {o}, seed), in that order."
    )
    hint = (
        "compare your call of init_params with its def line, init_params(c, n_hidden, o, "
        "seed=0): the arguments are taken by position."
    )
    return Explanation((), text, hint)


def _replayed(case: _cases.Case, epochs: int, by_id: dict) -> dict | None:
    """The params a replay case of `case` returned (0 or 1 epochs), or None."""
    found = by_id.get(f"{case['id']}-epochs{epochs}")
    if found is None or found[1].error is not None:
        return None
    params, _, err = _train_returned(found[0], found[1].returned)
    return None if err is not None else params
