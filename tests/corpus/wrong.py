"""Wrong answers, each one a misconception of the spec's table of mistakes as a student would
write it. WRONG lists (function, answer, tag the message must name, flavour to run)."""

from __future__ import annotations

import numpy as np

from grader.judge import cases, expect


def _sig(z):
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=float)))


# M1: a missing or extra transpose
def grad_W2_transposed(H, delta2):
    return delta2.T @ H


def hidden_delta_transposed(delta2, W2, H):
    return (W2 @ delta2.T) * (H * (1 - H)).T


# M2: any other wrong shape
def grad_W1_outer_wrong(X, delta1):
    return X @ X.T @ delta1


def grad_b2_keepdims(delta2):
    return delta2.sum(axis=0, keepdims=True)


# M3: a sign flip
def output_delta_sign(Y_hat, Y):
    return (Y - Y_hat) * Y_hat * (1 - Y_hat)


def grad_W2_sign(H, delta2):
    return -H.T @ delta2


def train_uphill(X, Y, n_hidden, lr, epochs, seed=0):
    rng = np.random.default_rng(seed)
    p = {
        "W1": rng.normal(size=(X.shape[1], n_hidden)),
        "b1": np.zeros(n_hidden),
        "W2": rng.normal(size=(n_hidden, Y.shape[1])),
        "b2": np.zeros(Y.shape[1]),
    }
    losses = []
    for _ in range(epochs):
        H = _sig(X @ p["W1"] + p["b1"])
        Y_hat = _sig(H @ p["W2"] + p["b2"])
        losses.append(float(0.5 * np.sum((Y_hat - Y) ** 2)))
        d2 = (Y_hat - Y) * Y_hat * (1 - Y_hat)
        d1 = d2 @ p["W2"].T * H * (1 - H)
        g = {"W1": X.T @ d1, "b1": d1.sum(0), "W2": H.T @ d2, "b2": d2.sum(0)}
        p = {k: v + lr * g[k] for k, v in p.items()}  # + : climbs the loss
    return p, losses


def _init(X, Y, n_hidden, seed):
    rng = np.random.default_rng(seed)
    c, o = X.shape[1], Y.shape[1]
    return {
        "W1": rng.normal(0.0, 1.0, size=(c, n_hidden)),
        "b1": np.zeros(n_hidden),
        "W2": rng.normal(0.0, 1.0, size=(n_hidden, o)),
        "b2": np.zeros(o),
    }


def _grads(X, Y, p):
    H = _sig(X @ p["W1"] + p["b1"])
    Y_hat = _sig(H @ p["W2"] + p["b2"])
    d2 = (Y_hat - Y) * Y_hat * (1 - Y_hat)
    d1 = d2 @ p["W2"].T * H * (1 - H)
    return {"W1": X.T @ d1, "b1": d1.sum(0), "W2": H.T @ d2, "b2": d2.sum(0)}


def _loss(X, Y, p):
    H = _sig(X @ p["W1"] + p["b1"])
    return float(0.5 * np.sum((_sig(H @ p["W2"] + p["b2"]) - Y) ** 2))


def train_loss_after_update(X, Y, n_hidden, lr, epochs, seed=0):
    """The right start and steps; the loss recorded after each update."""
    p, losses = _init(X, Y, n_hidden, seed), []
    for _ in range(epochs):
        g = _grads(X, Y, p)
        p = {k: v - lr * g[k] for k, v in p.items()}
        losses.append(_loss(X, Y, p))
    return p, losses


def train_made_up_losses(X, Y, n_hidden, lr, epochs, seed=0):
    """Right training; the losses a straight line from 1.0 to 0.1."""
    p = _init(X, Y, n_hidden, seed)
    for _ in range(epochs):
        g = _grads(X, Y, p)
        p = {k: v - lr * g[k] for k, v in p.items()}
    return p, [float(v) for v in np.linspace(1.0, 0.1, epochs)]


def _train_from(start):
    def train(X, Y, n_hidden, lr, epochs, seed=0):
        p, losses = start(X, Y, n_hidden, seed), []
        for _ in range(epochs):
            losses.append(_loss(X, Y, p))
            g = _grads(X, Y, p)
            p = {k: v - lr * g[k] for k, v in p.items()}
        return p, losses

    return train


train_seed_ignored = _train_from(lambda X, Y, h, seed: _init(X, Y, h, 0))
train_seed_plus_one = _train_from(lambda X, Y, h, seed: _init(X, Y, h, seed + 1))
train_uniform_init = _train_from(
    lambda X, Y, h, seed: {
        "W1": np.random.default_rng(seed).uniform(-1, 1, size=(X.shape[1], h)),
        "b1": np.zeros(h),
        "W2": np.random.default_rng(seed + 9).uniform(-1, 1, size=(h, Y.shape[1])),
        "b2": np.zeros(Y.shape[1]),
    }
)


def train_step_over_n(X, Y, n_hidden, lr, epochs, seed=0):
    """The step lr * g / n: a mean gradient where the course's loss is a sum."""
    p, losses = _init(X, Y, n_hidden, seed), []
    for _ in range(epochs):
        losses.append(_loss(X, Y, p))
        g = _grads(X, Y, p)
        p = {k: v - lr * g[k] / X.shape[0] for k, v in p.items()}
    return p, losses


# M4: the loss without the 1/2
def sse_loss_no_half(Y_hat, Y):
    return float(np.sum((Y_hat - Y) ** 2))


def output_delta_double(Y_hat, Y):
    return 2 * (Y_hat - Y) * Y_hat * (1 - Y_hat)


# M5: a mean where the course uses a sum
def grad_W2_mean(H, delta2):
    return H.T @ delta2 / H.shape[0]


def sse_loss_mean(Y_hat, Y):
    return float(0.5 * np.mean((Y_hat - Y) ** 2))


# M6: the double sigmoid (the lecture notes)
def sigmoid_prime_from_output_double(a):
    s = _sig(a)
    return s * (1 - s)


def hidden_delta_double(delta2, W2, H):
    return (delta2 @ W2.T) * _sig(H) * (1 - _sig(H))


def output_delta_seed004(Y_hat, Y):
    """The lecture notes verbatim: 2 (y* - output) * sigmoid(output) (1 - sigmoid(output))."""
    return 2 * (Y - Y_hat) * (_sig(Y_hat) * (1 - _sig(Y_hat)))


# M7: a forgotten activation derivative
def output_delta_no_factor(Y_hat, Y):
    return Y_hat - Y


def backprop_no_hidden_factor(X, Y, W1, b1, W2, b2):
    H = _sig(X @ W1 + b1)
    Y_hat = _sig(H @ W2 + b2)
    d2 = (Y_hat - Y) * Y_hat * (1 - Y_hat)
    d1 = d2 @ W2.T
    return {"W1": X.T @ d1, "b1": d1.sum(0), "W2": H.T @ d2, "b2": d2.sum(0)}


# M8: pre-activation vs activation
def forward_no_output_sigmoid(X, W1, b1, W2, b2):
    H = _sig(X @ W1 + b1)
    return H, H @ W2 + b2


def sigmoid_prime_as_output(z):
    z = np.asarray(z, dtype=float)
    return z * (1 - z)


def backprop_Z1_for_W2(X, Y, W1, b1, W2, b2):
    Z1 = X @ W1 + b1
    H = _sig(Z1)
    Y_hat = _sig(H @ W2 + b2)
    d2 = (Y_hat - Y) * Y_hat * (1 - Y_hat)
    d1 = d2 @ W2.T * H * (1 - H)
    return {"W1": X.T @ d1, "b1": d1.sum(0), "W2": Z1.T @ d2, "b2": d2.sum(0)}


# M9: bias gradient not summed
def grad_b1_unsummed(delta1):
    return delta1


def backprop_unsummed_b2(X, Y, W1, b1, W2, b2):
    H = _sig(X @ W1 + b1)
    Y_hat = _sig(H @ W2 + b2)
    d2 = (Y_hat - Y) * Y_hat * (1 - Y_hat)
    d1 = d2 @ W2.T * H * (1 - H)
    return {"W1": X.T @ d1, "b1": d1.sum(0), "W2": H.T @ d2, "b2": d2}


# M10: a hard-coded answer (a student who copied the visible examples' answers)
def hardcoded(name):
    """An answer that knows the visible examples' answers by their input shapes, nothing else."""
    table = {}
    for case in cases.visible_cases(name):
        shapes = tuple(np.shape(v) for v in case["args"].values())
        table[shapes] = expect.visible_expected(case)["result"]

    def answer(*args):
        shapes = tuple(np.shape(v) for v in args)
        return table.get(shapes, next(iter(table.values()))).copy()

    answer.__name__ = f"{name}_hardcoded"
    return answer


# M11: mutated inputs (right values)
def sigmoid_prime_from_output_inplace(a):
    a *= 1 - a
    return a


def grad_W1_inplace(X, delta1):
    X -= 0.0  # harmless
    delta1[...] = delta1 * 1.0
    X[0, 0] = X[0, 0] + 1.0
    result = X.T @ delta1
    result[0] -= delta1[0]  # undo the change's effect on the answer
    return result


# M12: numerically unstable sigmoids
def sigmoid_naive(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def sigmoid_naive_ratio(z):
    e = np.exp(np.asarray(z, dtype=float))
    return e / (1.0 + e)


def sigmoid_prime_naive(z):
    s = 1.0 / (1.0 + np.exp(-z))
    return s * (1 - s)


# M13: numerical gradients off by O(eps)
def numerical_derivative_forward(g, x, eps=1e-5):
    return float((g(x + eps) - g(x)) / eps)


def numerical_gradient_forward(fn, W, eps=1e-5):
    W = np.array(W, dtype=float)
    f0 = fn(W)
    grad = np.zeros_like(W)
    for ix in np.ndindex(W.shape):
        old = W[ix]
        W[ix] = old + eps
        grad[ix] = (fn(W) - f0) / eps
        W[ix] = old
    return grad


def numerical_gradient_unrestored(fn, W, eps=1e-5):
    grad = np.zeros(W.shape)
    for ix in np.ndindex(W.shape):
        W[ix] += eps
        plus = fn(W)
        W[ix] -= 2 * eps
        minus = fn(W)
        grad[ix] = (plus - minus) / (2 * eps)  # W[ix] is never put back
    return grad


# Wrong answers whose messages once misled (issue 21): what each must be called is held in
# tests/test_verdicts.py.


def numerical_gradient_no_copy_no_restore(fn, W, eps=1e-5):
    grad = np.zeros_like(W)
    for ix in np.ndindex(W.shape):
        W[ix] += eps
        f_plus = fn(W)
        W[ix] -= 2 * eps
        f_minus = fn(W)
        grad[ix] = (f_plus - f_minus) / (2 * eps)
    return grad


def train_centres_X_in_place(X, Y, n_hidden, lr, epochs, seed=0):
    X -= X.mean(axis=0)  # changes the caller's X
    p, losses = _init(X, Y, n_hidden, seed), []
    for _ in range(epochs):
        losses.append(_loss(X, Y, p))
        g = _grads(X, Y, p)
        p = {k: v - lr * g[k] for k, v in p.items()}
    return p, losses


def output_delta_over_n(Y_hat, Y):
    return (Y_hat - Y) * Y_hat * (1 - Y_hat) / len(Y)


def df_dz_list(x, z):
    if np.ndim(x) == 0:
        return 3 * x**2 + 4 * x * z
    return [3 * a**2 + 4 * a * b for a, b in zip(x, z, strict=True)]


def backprop_biases_swapped(X, Y, W1, b1, W2, b2):
    g = _grads(X, Y, {"W1": W1, "b1": b1, "W2": W2, "b2": b2})
    return {"W1": g["W1"], "b1": g["b2"], "W2": g["W2"], "b2": g["b1"]}


def numerical_gradient_integer_copy(fn, W, eps=1e-5):
    W = W.copy()  # keeps an integer W's dtype: old + eps is cut back to a whole number
    grad = np.zeros_like(W)
    for ix in np.ndindex(W.shape):
        old = W[ix]
        W[ix] = old + eps
        plus = fn(W)
        W[ix] = old - eps
        minus = fn(W)
        W[ix] = old
        grad[ix] = (plus - minus) / (2 * eps)
    return grad


def numerical_gradient_integer_result(fn, W, eps=1e-5):
    W_work = np.array(W, dtype=float)
    grad = np.zeros_like(W)  # an integer W gives an integer result: every slope is cut
    for ix in np.ndindex(W.shape):
        old = W_work[ix]
        W_work[ix] = old + eps
        plus = fn(W_work)
        W_work[ix] = old - eps
        minus = fn(W_work)
        W_work[ix] = old
        grad[ix] = (plus - minus) / (2 * eps)
    return grad


def numerical_gradient_nudges_integer_w(fn, W, eps=1e-5):
    grad = np.zeros(W.shape)
    for ix in np.ndindex(W.shape):
        W[ix] += eps
        plus = fn(W)
        W[ix] -= 2 * eps
        minus = fn(W)
        W[ix] += eps
        grad[ix] = (plus - minus) / (2 * eps)
    return grad


def _central_derivative_with_step(h):
    def numerical_derivative(g, x, eps=1e-5):
        return float((g(x + h) - g(x - h)) / (2 * h))

    numerical_derivative.__name__ = f"numerical_derivative_step_{h:g}"
    return numerical_derivative


def _central_gradient_with_step(h):
    def numerical_gradient(fn, W, eps=1e-5):
        W = np.array(W, dtype=float)
        grad = np.zeros_like(W)
        for ix in np.ndindex(W.shape):
            old = W[ix]
            W[ix] = old + h
            plus = fn(W)
            W[ix] = old - h
            minus = fn(W)
            W[ix] = old
            grad[ix] = (plus - minus) / (2 * h)
        return grad

    numerical_gradient.__name__ = f"numerical_gradient_step_{h:g}"
    return numerical_gradient


#: Central differences with a bad step in place of eps (too small: rounding; too large; 1e-3
#: once named a forward difference [M13], which lies within 1e-5 of it too).
BAD_STEPS = (1e-13, 1e-3, 1e-2, 0.1)
numerical_derivative_bad_steps = [_central_derivative_with_step(h) for h in BAD_STEPS]
numerical_gradient_bad_steps = [_central_gradient_with_step(h) for h in BAD_STEPS]

#: Steps of their own that a function ignoring its eps takes (a learner trial: full marks, both
#: flavours, before the checks passed a large eps); 1e-5 is the default eps hard-coded.
OWN_STEPS = (1e-7, 1e-6, 1e-5)
numerical_derivative_ignores_eps = [_central_derivative_with_step(h) for h in OWN_STEPS]
numerical_gradient_ignores_eps = [_central_gradient_with_step(h) for h in OWN_STEPS]


def numerical_derivative_default_eps(g, x, eps=1e-5):
    """eps shadowed by the default: the step of its own is 1e-5 whatever the caller passes."""
    eps = 1e-5
    return float((g(x + eps) - g(x - eps)) / (2 * eps))


def numerical_derivative_half_step(g, x, eps=1e-5):
    """Points eps apart, not 2 eps: the central difference with step eps / 2."""
    return float((g(x + eps / 2) - g(x - eps / 2)) / eps)


def numerical_gradient_half_step(fn, W, eps=1e-5):
    W = np.array(W, dtype=float)
    grad = np.zeros(W.shape)
    for ix in np.ndindex(W.shape):
        old = W[ix]
        W[ix] = old + eps / 2
        plus = fn(W)
        W[ix] = old - eps / 2
        minus = fn(W)
        W[ix] = old
        grad[ix] = (plus - minus) / eps
    return grad


# Answers a fresh student wrote on the class path (issue 21's second try): a right number in
# the wrong container, and a sign flip in notebook 01.


def numerical_derivative_in_an_array(g, x, eps=1e-5):
    return np.array([(g(x + eps) - g(x - eps)) / (2 * eps)])


def numerical_gradient_list(fn, W, eps=1e-5):
    W = np.array(W, dtype=float)
    grad = []
    for ix in np.ndindex(W.shape):
        old = W[ix]
        W[ix] = old + eps
        plus = fn(W)
        W[ix] = old - eps
        minus = fn(W)
        W[ix] = old
        grad.append((plus - minus) / (2 * eps))
    return grad


def grad_W2_list(H, delta2):
    return (H.T @ delta2).tolist()


def df_dz_list_for_numbers(x, z):
    return [3 * a**2 + 4 * a * b for a, b in zip(np.atleast_1d(x), np.atleast_1d(z), strict=True)]


def df_dz_negated(x, z):
    return -(3 * x**2 + 4 * x * z)


# The notebook's example network of 03, as globals a forward can read by mistake.
X = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 1.0, 2.0]])
W1 = np.array([[0.2, -0.1], [0.1, 0.3], [-0.2, 0.1], [0.05, -0.2]])
b1, W2, b2 = np.array([0.1, -0.1]), np.array([[0.5], [-0.4]]), np.array([0.2])


def forward_reads_globals(x, w1, bias1, w2, bias2):
    H = _sig(X @ W1 + b1)
    return H, _sig(H @ W2 + b2)


def forward_reads_global_weights(X_in, W1_in, b1_in, W2_in, b2_in):
    H = _sig(X_in @ W1 + b1)  # raises: X_in (5, 3) @ the global W1 (4, 2)
    return H, _sig(H @ W2 + b2)


# (function, answer, the tag its message must name, hidden flavour?)
WRONG = [
    ("grad_W2", grad_W2_transposed, "M1", False),
    ("hidden_delta", hidden_delta_transposed, "M1", False),
    ("grad_W1", grad_W1_outer_wrong, "M2", False),
    ("grad_b2", grad_b2_keepdims, "M2", False),
    ("output_delta", output_delta_sign, "M3", False),
    ("grad_W2", grad_W2_sign, "M3", False),
    ("df_dz", df_dz_negated, "M3", False),
    ("train", train_uphill, "M3", False),
    ("train", train_step_over_n, "M5", False),
    ("sse_loss", sse_loss_no_half, "M4", False),
    ("output_delta", output_delta_double, "M4", False),
    ("grad_W2", grad_W2_mean, "M5", False),
    ("sse_loss", sse_loss_mean, "M5", False),
    ("sigmoid_prime_from_output", sigmoid_prime_from_output_double, "M6", False),
    ("hidden_delta", hidden_delta_double, "M6", False),
    ("output_delta", output_delta_seed004, "M6", False),
    ("output_delta", output_delta_no_factor, "M7", False),
    ("backprop", backprop_no_hidden_factor, "M7", False),
    ("forward", forward_no_output_sigmoid, "M8", False),
    ("sigmoid_prime", sigmoid_prime_as_output, "M8", False),
    ("backprop", backprop_Z1_for_W2, "M8", False),
    ("grad_b1", grad_b1_unsummed, "M9", False),
    ("backprop", backprop_unsummed_b2, "M9", False),
    ("grad_b2", hardcoded("grad_b2"), "M10", True),
    ("grad_W1", hardcoded("grad_W1"), "M10", True),
    ("sigmoid", hardcoded("sigmoid"), "M10", True),
    ("sigmoid_prime_from_output", sigmoid_prime_from_output_inplace, "M11", False),
    ("grad_W1", grad_W1_inplace, "M11", False),
    ("sigmoid", sigmoid_naive, "M12", False),
    ("sigmoid", sigmoid_naive_ratio, "M12", False),
    ("sigmoid_prime", sigmoid_prime_naive, "M12", False),
    ("numerical_derivative", numerical_derivative_forward, "M13", False),
    ("numerical_gradient", numerical_gradient_forward, "M13", False),
    ("numerical_gradient", numerical_gradient_unrestored, "M13", False),
    ("numerical_gradient", numerical_gradient_no_copy_no_restore, "M13", True),
    ("train", train_centres_X_in_place, "M11", False),
    ("output_delta", output_delta_over_n, "M5", True),
]
