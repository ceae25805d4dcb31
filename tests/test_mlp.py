"""Activations, forward pass, backprop and losses against independent references."""

import numpy as np
import pytest

from data import one_hot
from mlp import (ACTIVATIONS, SMOOTH_ACTIVATIONS, check_gradients, cross_entropy_loss, forward,
                 get_activation, loss_and_gradients, predict, validate_network)


def central_difference(f, z, h):
    return (f(z + h) - f(z - h)) / (2 * h)


def points_away_from_kink(name):
    z = np.linspace(-4, 4, 161)
    if name in ("relu", "elu"):
        z = z[np.abs(z) > 1e-2]  # ReLU' and ELU'' jump at 0
    return z


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_first_derivative_matches_differences(name):
    phi = get_activation(name)
    z = points_away_from_kink(name)
    numeric = central_difference(phi.f, z, 1e-6)
    error = np.abs(phi.df(z) - numeric) / np.maximum(1.0, np.abs(numeric))
    assert error.max() < 1e-6


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_second_derivative_matches_differences(name):
    phi = get_activation(name)
    z = points_away_from_kink(name)
    numeric = central_difference(phi.df, z, 1e-6)
    error = np.abs(phi.d2f(z) - numeric) / np.maximum(1.0, np.abs(numeric))
    assert error.max() < 1e-6


def test_values_at_zero_match_closed_forms():
    # Known values: GELU''(0) = sqrt(2/pi) (the numpy-ml bug returned 1.505).
    expected = {
        "linear": (0.0, 1.0, 0.0), "tanh": (0.0, 1.0, 0.0), "sigmoid": (0.5, 0.25, 0.0),
        "softplus": (np.log(2.0), 0.5, 0.25), "elu": (0.0, 1.0, 1.0),
        "gelu": (0.0, 0.5, np.sqrt(2 / np.pi)), "silu": (0.0, 0.5, 0.5), "relu": (0.0, 0.0, 0.0),
    }
    assert set(expected) == set(ACTIVATIONS)
    for name, (value, slope, curvature) in expected.items():
        phi = get_activation(name)
        assert phi.value_at_0 == pytest.approx(value, abs=1e-15), name
        assert phi.slope_at_0 == pytest.approx(slope, abs=1e-15), name
        assert phi.curvature_at_0 == pytest.approx(curvature, abs=1e-15), name


def test_gelu_is_tanh_approximation():
    z = np.linspace(-3, 3, 13)
    reference = 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))
    np.testing.assert_allclose(get_activation("gelu")(z), reference, rtol=1e-14)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_keep_float32(name):
    phi = get_activation(name)
    z = np.linspace(-2, 2, 9, dtype=np.float32)
    for fn in (phi.f, phi.df, phi.d2f):
        assert fn(z).dtype == np.float32


def test_activations_do_not_overflow():
    z = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for phi in ACTIVATIONS.values():
            for fn in (phi.f, phi.df, phi.d2f):
                assert np.all(np.isfinite(fn(z))), phi.name


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="tanh"):
        get_activation("swish2")


def random_network(widths, rng, scale=0.6, dtype=np.float64):
    return [(scale * rng.standard_normal((n_out, n_in))).astype(dtype)
            for n_in, n_out in zip(widths[:-1], widths[1:])]


def random_problem(depth, loss, rng, dtype=np.float64):
    widths = [5, 7, 6, 8, 4][:depth] + [3]
    weights = random_network(widths, rng, dtype=dtype)
    X = rng.standard_normal((widths[0], 9)).astype(dtype)
    if loss == "cross_entropy":
        Y = one_hot(rng.integers(3, size=9), 3, dtype)
    else:
        Y = rng.standard_normal((3, 9)).astype(dtype)
    return weights, X, Y


@pytest.mark.parametrize("loss", ["squared", "cross_entropy"])
@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("name", SMOOTH_ACTIVATIONS)
def test_gradients_match_finite_differences(name, depth, loss):
    rng = np.random.default_rng(depth)
    weights, X, Y = random_problem(depth, loss, rng)
    error = check_gradients(lambda p: loss_and_gradients(p, X, Y, name, loss), weights)
    assert error < 1e-6


def test_gradient_check_catches_wrong_backprop():
    rng = np.random.default_rng(0)
    weights, X, Y = random_problem(2, "squared", rng)

    def wrong(params):  # omits phi'(Z) from the first layer's delta
        value, grads = loss_and_gradients(params, X, Y, "tanh")
        residual = predict(params, X, "tanh") - Y
        grads[0] = (params[1].T @ residual) @ X.T
        return value, grads

    assert check_gradients(wrong, weights) > 1e-2


def test_two_layer_gradient_matches_closed_form():
    # G1 = [(W2^T R) * phi'(W1 X)] X^T with R = W2 phi(W1 X) - Y.
    rng = np.random.default_rng(1)
    W1, W2 = random_network([6, 8, 3], rng)
    X, Y = rng.standard_normal((6, 10)), rng.standard_normal((3, 10))
    phi = get_activation("silu")
    Z = W1 @ X
    R = W2 @ phi(Z) - Y
    loss, (G1, G2) = loss_and_gradients([W1, W2], X, Y, "silu")
    np.testing.assert_allclose(G1, ((W2.T @ R) * phi.df(Z)) @ X.T, rtol=1e-12)
    np.testing.assert_allclose(G2, R @ phi(Z).T, rtol=1e-12)
    assert loss == pytest.approx(0.5 * np.sum(R**2), rel=1e-12)


@pytest.mark.parametrize("loss", ["squared", "cross_entropy"])
def test_float32_stays_float32(loss):
    rng = np.random.default_rng(2)
    weights, X, Y = random_problem(3, loss, rng, dtype=np.float32)
    output, (inputs, preactivations) = forward(weights, X, "gelu")
    assert output.dtype == np.float32
    assert all(a.dtype == np.float32 for a in inputs + preactivations)
    _, grads = loss_and_gradients(weights, X, Y, "gelu", loss)
    assert all(G.dtype == np.float32 for G in grads)


def test_cross_entropy_matches_direct_formula():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((4, 6))
    labels = rng.integers(4, size=6)
    probs = np.exp(logits) / np.exp(logits).sum(axis=0)
    expected = -np.mean(np.log(probs[labels, np.arange(6)]))
    loss, grad = cross_entropy_loss(logits, one_hot(labels, 4))
    assert loss == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(grad, (probs - one_hot(labels, 4)) / 6, rtol=1e-12)


def test_cross_entropy_is_stable_for_large_logits():
    logits = np.array([[1000.0, -1000.0], [0.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = cross_entropy_loss(logits, one_hot(np.array([0, 1]), 2))
    assert loss == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.isfinite(grad))


def test_cross_entropy_rejects_non_one_hot_targets():
    with pytest.raises(ValueError, match="one-hot"):
        cross_entropy_loss(np.zeros((3, 2)), np.array([[1.0, 2.0], [0, 0], [0, 0]]))


class TestBadInput:
    def setup_method(self):
        rng = np.random.default_rng(0)
        self.weights = random_network([4, 5, 3], rng)
        self.X = rng.standard_normal((4, 6))
        self.Y = rng.standard_normal((3, 6))

    def test_weights_that_do_not_chain(self):
        weights = [self.weights[0], np.zeros((3, 4))]
        with pytest.raises(ValueError, match="W2"):
            validate_network(weights, self.X, self.Y)

    def test_X_with_wrong_features(self):
        with pytest.raises(ValueError, match="X has 5 rows"):
            loss_and_gradients(self.weights, np.zeros((5, 6)), self.Y, "tanh")

    def test_sample_count_mismatch(self):
        with pytest.raises(ValueError, match="samples"):
            loss_and_gradients(self.weights, self.X, self.Y[:, :4], "tanh")

    def test_Y_with_wrong_outputs(self):
        with pytest.raises(ValueError, match="Y has 2 rows"):
            loss_and_gradients(self.weights, self.X, self.Y[:2], "tanh")

    @pytest.mark.parametrize("target", ["X", "Y", "W1"])
    def test_non_finite_values(self, target):
        X, Y, weights = self.X.copy(), self.Y.copy(), [W.copy() for W in self.weights]
        {"X": X, "Y": Y, "W1": weights[0]}[target][0, 0] = np.nan
        with pytest.raises(ValueError, match=f"{target}.*NaN"):
            loss_and_gradients(weights, X, Y, "tanh")

    def test_unknown_loss(self):
        with pytest.raises(ValueError, match="squared"):
            loss_and_gradients(self.weights, self.X, self.Y, "tanh", loss="hinge")

    def test_one_dimensional_weight(self):
        with pytest.raises(ValueError, match="2-D"):
            validate_network([np.zeros(4), self.weights[1]], self.X)


def test_init_weights_orthogonal_and_gaussian_scales():
    from mlp import init_weights
    weights = init_weights([6, 9, 4], "orthogonal", scale=0.1, rng=0)
    assert [W.shape for W in weights] == [(9, 6), (4, 9)]
    np.testing.assert_allclose(weights[0].T @ weights[0], 0.01 * np.eye(6), atol=1e-15)
    np.testing.assert_allclose(weights[1] @ weights[1].T, 0.01 * np.eye(4), atol=1e-15)
    he = init_weights([400, 300, 10], "he", rng=1)
    assert np.var(he[0]) == pytest.approx(2 / 400, rel=0.05)
    xavier = init_weights([400, 300, 10], "xavier", rng=1)
    assert np.var(xavier[0]) == pytest.approx(2 / 700, rel=0.05)
    with pytest.raises(ValueError, match="orthogonal"):
        init_weights([3, 3], "kaiming")
