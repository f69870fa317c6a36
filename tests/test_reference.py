"""The reference implementation held against central finite differences and known numbers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from grader.judge import numeric
from grader.judge import reference as ref

# (n, c, h, o): n = 1, 2, 10, 10,000 from the seeds; o > 1 and h = 1 included.
SHAPES = [
    (1, 4, 2, 1),
    (2, 4, 2, 1),
    (10, 3, 5, 2),
    (10, 2, 1, 3),
    (10_000, 3, 2, 2),
]


def make_batch(n: int, c: int, h: int, o: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "X": rng.normal(size=(n, c)),
        "Y": rng.uniform(size=(n, o)),
        "W1": rng.normal(size=(c, h)),
        "b1": rng.normal(size=h),
        "W2": rng.normal(size=(h, o)),
        "b2": rng.normal(size=o),
    }


def loss_of(batch: dict[str, np.ndarray], name: str):
    """The loss as a function of one parameter, the others held at their values in batch."""

    def fn(value: np.ndarray) -> float:
        params = {k: batch[k] for k in ("W1", "b1", "W2", "b2")}
        params[name] = value
        _, Y_hat = ref.forward(batch["X"], **params)
        return ref.sse_loss(Y_hat, batch["Y"])

    return fn


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "n={}_c={}_h={}_o={}".format(*s))
def test_backprop_matches_central_differences(shape):
    batch = make_batch(*shape, seed=sum(shape))
    grads = ref.backprop(**batch)
    for name in ("W1", "b1", "W2", "b2"):
        numerical = numeric.central_gradient(loss_of(batch, name), batch[name])
        assert grads[name].shape == batch[name].shape
        err = numeric.rel_error(grads[name], numerical)
        # Large batches sum 10,000 rounding errors into the loss: allow for it.
        assert err < (1e-5 if shape[0] > 100 else 1e-7), f"{name}: rel error {err:.2e}"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "n={}_c={}_h={}_o={}".format(*s))
def test_layer_functions_compose_to_backprop(shape):
    b = make_batch(*shape, seed=7 + shape[0])
    H, Y_hat = ref.forward(b["X"], b["W1"], b["b1"], b["W2"], b["b2"])
    n, c, h, o = shape
    assert H.shape == (n, h) and Y_hat.shape == (n, o)
    delta2 = ref.output_delta(Y_hat, b["Y"])
    delta1 = ref.hidden_delta(delta2, b["W2"], H)
    assert delta2.shape == (n, o) and delta1.shape == (n, h)
    assert ref.grad_W2(H, delta2).shape == (h, o)
    assert ref.grad_b2(delta2).shape == (o,)
    assert ref.grad_W1(b["X"], delta1).shape == (c, h)
    assert ref.grad_b1(delta1).shape == (h,)


def test_output_delta_is_dloss_dZ2():
    """delta2 is the gradient of the loss with respect to the output pre-activation Z2."""
    rng = np.random.default_rng(3)
    Z2, Y = rng.normal(size=(5, 2)), rng.uniform(size=(5, 2))
    numerical = numeric.central_gradient(lambda Z: ref.sse_loss(ref.sigmoid(Z), Y), Z2)
    assert numeric.rel_error(ref.output_delta(ref.sigmoid(Z2), Y), numerical) < 1e-7


def test_hidden_delta_is_dloss_dZ1():
    b = make_batch(6, 3, 4, 2, seed=11)

    def loss_from_Z1(Z1: np.ndarray) -> float:
        Y_hat = ref.sigmoid(ref.sigmoid(Z1) @ b["W2"] + b["b2"])
        return ref.sse_loss(Y_hat, b["Y"])

    Z1 = b["X"] @ b["W1"] + b["b1"]
    H, Y_hat = ref.forward(b["X"], b["W1"], b["b1"], b["W2"], b["b2"])
    delta1 = ref.hidden_delta(ref.output_delta(Y_hat, b["Y"]), b["W2"], H)
    assert numeric.rel_error(delta1, numeric.central_gradient(loss_from_Z1, Z1)) < 1e-7


def test_partial_derivatives_match_central_differences():
    def f(x, z):
        return 3 * x**2 * z + 2 * x * z**2

    for x, z in [(1.0, 2.0), (-0.5, 3.0), (2.5, -1.25)]:
        assert ref.df_dx(x, z) == pytest.approx(
            numeric.central_derivative(lambda t, z=z: f(t, z), x)
        )
        assert ref.df_dz(x, z) == pytest.approx(
            numeric.central_derivative(lambda t, x=x: f(x, t), z)
        )
    xs, zs = np.linspace(-2, 2, 7), np.linspace(3, -3, 7)
    assert ref.df_dx(xs, zs).shape == (7,)


def test_sigmoid_derivatives_match_central_differences():
    z = np.linspace(-8, 8, 33)
    numerical = numeric.central_gradient(lambda v: float(np.sum(ref.sigmoid(v))), z)
    assert numeric.rel_error(ref.sigmoid_prime(z), numerical) < 1e-6
    assert np.allclose(ref.sigmoid_prime_from_output(ref.sigmoid(z)), ref.sigmoid_prime(z))
    assert ref.sigmoid_prime(0.0) == pytest.approx(0.25)


def test_numerical_helpers_are_central_and_restore_W():
    W = np.arange(6, dtype=float).reshape(2, 3)
    before = W.copy()
    grad = ref.numerical_gradient(lambda V: float(np.sum(V**3)), W)
    assert np.array_equal(W, before)
    assert np.allclose(grad, 3 * W**2, atol=1e-6)
    # Central differences are exact for a cubic up to eps^2; forward ones are off by ~3 x eps.
    eps = 1e-5
    fwd = ((W + eps) ** 3 - W**3) / eps
    assert np.max(np.abs(fwd - 3 * W**2)) > 1e-5 > np.max(np.abs(grad - 3 * W**2))
    assert ref.numerical_derivative(np.sin, 0.3) == pytest.approx(np.cos(0.3), abs=1e-9)


def test_sigmoid_is_stable_from_minus_1000_to_1000():
    z = np.linspace(-1000, 1000, 20_001)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            s = ref.sigmoid(z)
            ds = ref.sigmoid_prime(z)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ds))
    assert s[0] == 0.0 and s[-1] == 1.0 and np.all(np.diff(s) >= 0)
    assert ref.sigmoid(np.array([-1000.0, 1000.0])).tolist() == [0.0, 1.0]


def test_no_reference_function_mutates_its_arguments():
    b = make_batch(10, 3, 4, 2, seed=5)
    H, Y_hat = ref.forward(b["X"], b["W1"], b["b1"], b["W2"], b["b2"])
    delta2 = ref.output_delta(Y_hat, b["Y"])
    delta1 = ref.hidden_delta(delta2, b["W2"], H)
    calls = [
        (ref.df_dx, (b["X"], b["X"] + 1)),
        (ref.df_dz, (b["X"], b["X"] + 1)),
        (ref.numerical_gradient, (lambda W: float(np.sum(W**2)), b["W1"])),
        (ref.sigmoid, (b["X"],)),
        (ref.sigmoid_prime, (b["X"],)),
        (ref.sigmoid_prime_from_output, (H,)),
        (ref.forward, (b["X"], b["W1"], b["b1"], b["W2"], b["b2"])),
        (ref.sse_loss, (Y_hat, b["Y"])),
        (ref.output_delta, (Y_hat, b["Y"])),
        (ref.grad_W2, (H, delta2)),
        (ref.grad_b2, (delta2,)),
        (ref.hidden_delta, (delta2, b["W2"], H)),
        (ref.grad_W1, (b["X"], delta1)),
        (ref.grad_b1, (delta1,)),
        (ref.backprop, (b["X"], b["Y"], b["W1"], b["b1"], b["W2"], b["b2"])),
        (ref.train, (b["X"], b["Y"], 3, 0.5, 5)),
    ]
    for fn, args in calls:
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        fn(*args)
        for arg, copy in zip(args, copies, strict=True):
            if isinstance(arg, np.ndarray):
                assert np.array_equal(arg, copy), f"{fn.__name__} changed an argument"


def test_seed_004_W2_gradient_done_right():
    """The lecture notes' numbers, recomputed: their W2 gradient applies the sigmoid twice.

    The seed uses the loss (y* - output)^2 (no 1/2), one hidden unit per sample whose
    activations are sigmoid([1.3, 0.85, 1.0]) and W2 = [[0.5]] with no biases.
    """
    Y = np.array([[1.0], [0.85], [0.4]])
    H = ref.sigmoid(np.array([[1.3], [0.85], [1.0]]))
    W2 = np.array([[0.5]])
    Y_hat = ref.sigmoid(H @ W2)
    # The seed's printed forward pass agrees with ours.
    assert np.allclose(H.ravel(), [0.78583498, 0.70056714, 0.73105858], atol=1e-8)
    assert np.allclose(Y_hat.ravel(), [0.59698483, 0.58668634, 0.59037826], atol=1e-8)

    # Without the 1/2 the gradient doubles: dL/dW2 = H^T (2 (Y_hat - Y) * Y_hat (1 - Y_hat)).
    right = 2.0 * ref.grad_W2(H, ref.output_delta(Y_hat, Y))
    numerical = numeric.central_gradient(lambda V: float(np.sum((ref.sigmoid(H @ V) - Y) ** 2)), W2)
    assert numeric.rel_error(right, numerical) < 1e-7

    # The seed's version: sigmoid applied again to the output, and the sign of (Y - Y_hat).
    seed_version = H.T @ (2.0 * (Y - Y_hat) * ref.sigmoid_prime(Y_hat))
    assert abs(right.item()) == pytest.approx(0.17454075, abs=5e-9)
    assert seed_version.item() == pytest.approx(0.16591155, abs=5e-9)
    assert abs(seed_version.item()) != pytest.approx(abs(right.item()), abs=1e-4)


def test_train_learns_xor():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    Y = np.array([[0], [1], [1], [0]], dtype=float)
    params, losses = ref.train(X, Y, n_hidden=4, lr=2.0, epochs=3000, seed=0)
    assert len(losses) == 3000 and all(isinstance(v, float) for v in losses)
    assert losses[-1] < 0.05 * losses[0]
    _, Y_hat = ref.forward(X, **params)
    assert np.array_equal(Y_hat > 0.5, Y > 0.5)
