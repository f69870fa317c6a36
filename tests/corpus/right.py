"""Right answers written in styles other than the reference's: einsum, loops, np.dot, the
bias folded into the weights, in-place nudges that are restored, other initialisations.

RIGHT maps each student function to its right answers; every one must pass both flavours.
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------- 01


def df_dx_poly(x, z):
    x, z = np.asarray(x, dtype=float), np.asarray(z, dtype=float)
    return np.multiply(6.0, x * z) + 2.0 * np.power(z, 2)


def df_dx_loop(x, z):
    if np.ndim(x) == 0:
        return 6.0 * float(x) * float(z) + 2.0 * float(z) ** 2
    out = np.empty(np.shape(x))
    for ix in np.ndindex(out.shape):
        out[ix] = 6 * x[ix] * z[ix] + 2 * z[ix] * z[ix]
    return out


def df_dz_poly(x, z):
    x, z = np.asarray(x, dtype=float), np.asarray(z, dtype=float)
    return np.add(3 * np.square(x), 4 * x * z)


def numerical_derivative_sym(g, x, eps=1e-5):
    h = eps
    return float((g(x + h) - g(x - h)) / (h + h))


def numerical_derivative_vectorised(g, x, eps=1e-5):
    up, down = g(x + eps), g(x - eps)
    return float(np.subtract(up, down) / (2 * eps))


def numerical_derivative_halves(g, x, eps=1e-5):
    """Divided in two steps, x a numpy float: the same number to rounding."""
    x = np.float64(x)
    return float((g(x + eps) - g(x - eps)) / 2 / eps)


def numerical_gradient_inplace(fn, W, eps=1e-5):
    """CS231n style: nudge W itself (a float W; an integer one is made float first), restore
    every entry."""
    W = np.asarray(W, dtype=float)  # no copy of a float W: its own entries are nudged
    grad = np.zeros(W.shape)
    it = np.nditer(W, flags=["multi_index"])
    while not it.finished:
        ix = it.multi_index
        old = W[ix]
        W[ix] = old + eps
        plus = fn(W)
        W[ix] = old - eps
        minus = fn(W)
        W[ix] = old
        grad[ix] = (plus - minus) / (2 * eps)
        it.iternext()
    return grad


def numerical_gradient_basis(fn, W, eps=1e-5):
    """One basis array E per entry: fn(W + E) - fn(W - E)."""
    W = np.asarray(W, dtype=float)
    grad = np.zeros_like(W)
    flat = grad.reshape(-1)
    for k in range(W.size):
        E = np.zeros(W.size)
        E[k] = eps
        E = E.reshape(W.shape)
        flat[k] = (fn(W + E) - fn(W - E)) / (2 * eps)
    return grad


def numerical_gradient_copies(fn, W, eps=1e-5):
    """A fresh float copy per nudge (W + eps * unit), the slopes gathered in a flat list."""
    W = np.asarray(W, dtype=float)
    slopes = []
    for k in range(W.size):
        unit = np.zeros(W.size)
        unit[k] = 1.0
        unit = unit.reshape(W.shape)
        slopes.append((fn(W + eps * unit) - fn(W - eps * unit)) / (2.0 * eps))
    return np.array(slopes).reshape(W.shape)


def numerical_gradient_flat_view(fn, W, eps=1e-5):
    """A float copy nudged through a flat view of it (W.ravel() of a contiguous copy)."""
    work = np.array(W, dtype=float)
    flat = work.reshape(-1)
    grad = np.empty(work.size)
    for k in range(work.size):
        old = flat[k]
        flat[k] = old + eps
        plus = fn(work)
        flat[k] = old - eps
        minus = fn(work)
        flat[k] = old
        grad[k] = (plus - minus) / (2 * eps)
    return grad.reshape(work.shape)


# --------------------------------------------------------------------------- 02


def sigmoid_logaddexp(z):
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=float)))


def sigmoid_masked(z):
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def sigmoid_tanh(z):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


def sigmoid_prime_square(z):
    s = sigmoid_logaddexp(z)
    return s - s**2


def sigmoid_prime_from_output_square(a):
    a = np.asarray(a, dtype=float)
    return a - a * a


# --------------------------------------------------------------------------- 03


def forward_folded(X, W1, b1, W2, b2):
    """The bias folded into the weights as an extra input of 1 (seed 000)."""
    ones = np.ones((X.shape[0], 1))
    H = sigmoid_tanh(np.hstack([X, ones]) @ np.vstack([W1, b1]))
    Y_hat = sigmoid_tanh(np.hstack([H, ones]) @ np.vstack([W2, b2]))
    return H, Y_hat


def forward_einsum(X, W1, b1, W2, b2):
    H = sigmoid_logaddexp(np.einsum("nc,ch->nh", X, W1) + b1[None, :])
    return H, sigmoid_logaddexp(np.einsum("nh,ho->no", H, W2) + b2[None, :])


def sse_loss_einsum(Y_hat, Y):
    d = Y_hat - Y
    return float(np.einsum("ij,ij->", d, d) / 2)


def sse_loss_loop(Y_hat, Y):
    total = 0.0
    for i in range(Y.shape[0]):
        for k in range(Y.shape[1]):
            total += 0.5 * (Y_hat[i, k] - Y[i, k]) ** 2
    return total


# --------------------------------------------------------------------------- 04


def output_delta_multiply(Y_hat, Y):
    return np.multiply(Y_hat - Y, Y_hat - Y_hat**2)


def grad_W2_einsum(H, delta2):
    return np.einsum("ni,nk->ik", H, delta2)


def grad_W2_outer_loop(H, delta2):
    out = np.zeros((H.shape[1], delta2.shape[1]))
    for i in range(H.shape[0]):
        out += np.outer(H[i], delta2[i])
    return out


def grad_b2_ones(delta2):
    return np.ones(delta2.shape[0]) @ delta2


def grad_b2_loop(delta2):
    total = np.zeros(delta2.shape[1])
    for row in delta2:
        total = total + row
    return total


# --------------------------------------------------------------------------- 05


def hidden_delta_einsum(delta2, W2, H):
    return np.einsum("no,ho->nh", delta2, W2) * H * (1 - H)


def grad_W1_dot(X, delta1):
    return np.dot(X.T, delta1)


def grad_W1_loop(X, delta1):
    c, h = X.shape[1], delta1.shape[1]
    out = np.zeros((c, h))
    for j in range(c):
        for k in range(h):
            out[j, k] = np.sum(X[:, j] * delta1[:, k])
    return out


def grad_b1_reduce(delta1):
    return np.add.reduce(delta1, axis=0)


def backprop_folded(X, Y, W1, b1, W2, b2):
    """Bias folded into the weights; the bias gradient is the last row of the folded one."""
    ones = np.ones((X.shape[0], 1))
    X1 = np.hstack([X, ones])
    H = sigmoid_tanh(X1 @ np.vstack([W1, b1]))
    H1 = np.hstack([H, ones])
    Y_hat = sigmoid_tanh(H1 @ np.vstack([W2, b2]))
    delta2 = (Y_hat - Y) * Y_hat * (1 - Y_hat)
    delta1 = (delta2 @ W2.T) * H * (1 - H)
    gW1 = X1.T @ delta1
    gW2 = H1.T @ delta2
    return {"W1": gW1[:-1], "b1": gW1[-1], "W2": gW2[:-1], "b2": gW2[-1]}


def backprop_per_sample(X, Y, W1, b1, W2, b2):
    """One sample at a time, gradients accumulated."""
    g = {
        "W1": np.zeros_like(W1),
        "b1": np.zeros_like(b1),
        "W2": np.zeros_like(W2),
        "b2": np.zeros_like(b2),
    }
    for x, y in zip(X, Y, strict=True):
        h = sigmoid_masked(x @ W1 + b1)
        y_hat = sigmoid_masked(h @ W2 + b2)
        d2 = (y_hat - y) * y_hat * (1 - y_hat)
        d1 = (W2 @ d2) * h * (1 - h)
        g["W2"] += np.outer(h, d2)
        g["b2"] += d2
        g["W1"] += np.outer(x, d1)
        g["b1"] += d1
    return g


def _init_params(c, n_hidden, o, seed=0):
    """Notebook 05's provided init_params, as a student's notebook has it."""
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.normal(0.0, 1.0, size=(c, n_hidden)),
        "b1": np.zeros(n_hidden),
        "W2": rng.normal(0.0, 1.0, size=(n_hidden, o)),
        "b2": np.zeros(o),
    }


def train_einsum_inplace(X, Y, n_hidden, lr, epochs, seed=0):
    """init_params, einsum forward, folded backprop, in-place updates of the param arrays."""
    p = _init_params(X.shape[1], n_hidden, Y.shape[1], seed)
    losses = []
    for _ in range(epochs):
        H, Y_hat = forward_einsum(X, **p)
        losses.append(sse_loss_einsum(Y_hat, Y))
        g = backprop_folded(X, Y, **p)
        for k in p:
            p[k] -= lr * g[k]
    return p, losses


def train_unpacked_array_losses(X, Y, n_hidden, lr, epochs, seed=0):
    """Parameters unpacked into variables, losses a numpy array of np.float64."""
    p = _init_params(X.shape[1], n_hidden, Y.shape[1], seed)
    W1, b1, W2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
    losses = np.zeros(epochs)
    for t in range(epochs):
        _, Y_hat = forward_folded(X, W1, b1, W2, b2)
        losses[t] = np.float64(0.5 * np.sum((Y_hat - Y) ** 2))
        g = (
            backprop_per_sample(X, Y, W1, b1, W2, b2)
            if len(X) < 3
            else backprop_folded(X, Y, W1, b1, W2, b2)
        )
        W1, b1 = W1 - lr * g["W1"], b1 - lr * g["b1"]
        W2, b2 = W2 - lr * g["W2"], b2 - lr * g["b2"]
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}, losses


RIGHT = {
    "df_dx": [df_dx_poly, df_dx_loop],
    "df_dz": [df_dz_poly],
    "numerical_derivative": [
        numerical_derivative_sym,
        numerical_derivative_vectorised,
        numerical_derivative_halves,
    ],
    "numerical_gradient": [
        numerical_gradient_inplace,
        numerical_gradient_basis,
        numerical_gradient_copies,
        numerical_gradient_flat_view,
    ],
    "sigmoid": [sigmoid_logaddexp, sigmoid_masked, sigmoid_tanh],
    "sigmoid_prime": [sigmoid_prime_square],
    "sigmoid_prime_from_output": [sigmoid_prime_from_output_square],
    "forward": [forward_folded, forward_einsum],
    "sse_loss": [sse_loss_einsum, sse_loss_loop],
    "output_delta": [output_delta_multiply],
    "grad_W2": [grad_W2_einsum, grad_W2_outer_loop],
    "grad_b2": [grad_b2_ones, grad_b2_loop],
    "hidden_delta": [hidden_delta_einsum],
    "grad_W1": [grad_W1_dot, grad_W1_loop],
    "grad_b1": [grad_b1_reduce],
    "backprop": [backprop_folded, backprop_per_sample],
    "train": [train_einsum_inplace, train_unpacked_array_losses],
}
