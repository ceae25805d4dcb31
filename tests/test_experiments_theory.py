"""The two-layer theorem at the reference settings, and the three theory scripts in --quick mode.

Reference settings: d = 30, m = 60, K = 3, N = 30 orthogonal samples with
one-hot labels, W2 with orthonormal rows (fixed), W1(0) = 1e-2 Q,
eta = 0.5 and 3000 full-batch gradient descent steps.
"""

import json

import numpy as np
import pytest

from data import orthogonal_data
from experiments import gradient_rank, smoothness, two_layer_subspace
from gd import GradientDescent, train
from metrics import (
    compare_subspaces,
    complement_drift,
    count_moved_singular_values,
    update_energy_in_subspace,
)
from mlp import loss_and_gradients
from subspace import closed_form_subspace, invariant_subspace, semi_orthogonal

D, M, K, EPS, ETA, STEPS = 30, 60, 3, 1e-2, 0.5, 3000


def train_two_layer(activation, m=M, d=D, steps=STEPS, seed=0):
    """Train W1 with W2 frozen; return (W1_init, W1_final, gradient Subspace, closed-form Subspace, loss)."""
    rng = np.random.default_rng(seed)
    X, Y, _ = orthogonal_data(d, K, rng)
    W1_init = semi_orthogonal(m, d, EPS, rng)
    W2 = semi_orthogonal(K, m, 1.0, rng)
    _, (G1, _) = loss_and_gradients([W1_init, W2], X, Y, activation)
    weights = [W1_init.copy(), W2]
    history = train(weights, X, Y, activation, GradientDescent(ETA, frozen=[1]), steps)
    return (W1_init, weights[0], invariant_subspace(W1_init, G1, K),
            closed_form_subspace(X, Y, W1_init, W2), history.loss[-1])


@pytest.fixture(scope="module")
def tanh_run():
    return train_two_layer("tanh")


# ---------------------------------------------------------------------------
# The theorem
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("m, d, steps", [(M, D, STEPS), (D, D, 500), (20, D, 500)])
def test_linear_stays_in_subspace_exactly(m, d, steps):
    W1_init, W1, from_gradient, from_data, loss = train_two_layer("linear", m, d, steps)
    assert loss < 1e-20
    assert complement_drift(W1, from_gradient) < 1e-9
    assert complement_drift(W1, from_data) < 1e-9
    assert update_energy_in_subspace(W1, W1_init, from_gradient) > 1 - 1e-12
    assert update_energy_in_subspace(W1, W1_init, from_data) > 1 - 1e-12
    # K singular values grow and K fall below eps; the other min(m, d) - 2K stay at eps
    assert count_moved_singular_values(W1, EPS, rtol=1e-6) == 2 * K
    update_sv = np.linalg.svd(W1 - W1_init, compute_uv=False)
    assert update_sv[K] < 1e-12 * update_sv[0]   # rank <= K


@pytest.mark.parametrize("m, d", [(M, D), (D, D), (20, D)])
def test_linear_gradient_and_closed_form_coincide(m, d):
    _, _, from_gradient, from_data, _ = train_two_layer("linear", m, d, steps=0)
    agreement = compare_subspaces(from_gradient, from_data)
    assert agreement["input"]["cos_largest_angle"] > 1 - 1e-9
    if m <= d:
        assert agreement["output"]["cos_largest_angle"] > 1 - 1e-9
    else:
        # For m > d the output sides differ by an angle of order eps (see
        # closed_form_subspace); both still contain every update.
        assert agreement["output"]["largest_angle"] < EPS


def test_tanh_stays_close_to_subspace(tanh_run):
    W1_init, W1, from_gradient, from_data, loss = tanh_run
    assert loss < 1e-20
    assert complement_drift(W1, from_gradient) < 0.2
    assert update_energy_in_subspace(W1, W1_init, from_gradient) > 0.999
    assert count_moved_singular_values(W1, EPS, rtol=0.1) <= 2 * K
    assert compare_subspaces(from_gradient, from_data)["input"]["cos_largest_angle"] > 1 - 1e-9


def test_relu_leaves_subspace(tanh_run):
    W1_init, W1, from_gradient, _, _ = train_two_layer("relu")
    tanh_drift = complement_drift(tanh_run[1], tanh_run[2])
    assert complement_drift(W1, from_gradient) >= 100 * tanh_drift
    assert update_energy_in_subspace(W1, W1_init, from_gradient) < 0.5
    assert count_moved_singular_values(W1, EPS, rtol=0.1) > 2 * K


# ---------------------------------------------------------------------------
# The scripts in --quick mode
# ---------------------------------------------------------------------------


def run_quick(module, tmp_path, *extra):
    metrics = module.main(["--quick", "--out", str(tmp_path), *extra])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["config"]["quick"] is True
    assert (tmp_path / "arrays.npz").is_file()
    return metrics, saved


def check_replot(module, tmp_path, name):
    figure = tmp_path / name
    assert figure.stat().st_size > 10_000
    figure.unlink()
    assert module.plot(tmp_path) == figure   # the figure comes from the saved files alone
    assert figure.is_file()


def test_two_layer_subspace_quick(tmp_path):
    metrics, saved = run_quick(two_layer_subspace, tmp_path)
    results = saved["activations"]
    assert list(results) == ["linear", "tanh", "elu", "gelu", "silu", "relu"]
    for name, r in results.items():
        for key in ("complement_drift", "update_energy_in_subspace", "moved_singular_values",
                    "min_cosine_gradient_vs_closed_form", "final_loss"):
            assert key in r, (name, key)
        assert 0.0 <= r["update_energy_in_subspace"] <= 1.0 + 1e-12
        assert 0.0 <= r["min_cosine_gradient_vs_closed_form"] <= 1.0 + 1e-12
        assert 0 <= r["moved_singular_values"] <= D
    assert results["linear"]["complement_drift"] < 1e-9
    assert results["linear"]["moved_singular_values"] == 2 * K
    assert results["linear"]["min_cosine_gradient_vs_closed_form"] > 1 - 1e-9
    assert results["tanh"]["complement_drift"] < 0.2
    assert results["relu"]["complement_drift"] > 100 * results["tanh"]["complement_drift"]
    assert metrics["activations"]["tanh"]["final_loss"] == results["tanh"]["final_loss"]
    with np.load(tmp_path / "arrays.npz") as arrays:
        steps = arrays["tanh/record_steps"]
        assert steps[-1] == saved["config"]["steps"]
        assert arrays["tanh/weight_sv"].shape == (steps.size, D)
        assert arrays["tanh/complement_drift"].shape == steps.shape
    check_replot(two_layer_subspace, tmp_path, "two_layer_subspace.png")


def test_gradient_rank_quick(tmp_path):
    _, saved = run_quick(gradient_rank, tmp_path, "--activations", "linear", "tanh", "relu")
    results = saved["activations"]
    assert set(results) == {"linear", "tanh", "relu"}
    assert results["linear"]["max_gradient_tail_ratio"] < 1e-12
    assert results["linear"]["max_linearization_error"] == 0.0
    assert results["tanh"]["max_gradient_tail_ratio"] < 1e-2
    assert results["relu"]["gradient_tail_ratio_init"] > 0.1
    assert 0.0 < results["tanh"]["max_linearization_error"] < results["relu"]["max_linearization_error"]
    check_replot(gradient_rank, tmp_path, "gradient_rank.png")


def test_smoothness_quick(tmp_path):
    _, saved = run_quick(smoothness, tmp_path)
    eps = saved["config"]["eps"]
    assert len(eps) >= 3
    assert max(eps) / min(eps) >= 1e3 - 1e-6
    results = saved["activations"]
    # the initial gradient's tail shrinks like eps^2 (tanh), like eps (SiLU), not at all (ReLU)
    assert results["tanh"]["tail_ratio_slope"] == pytest.approx(2.0, abs=0.05)
    assert results["silu"]["tail_ratio_slope"] == pytest.approx(1.0, abs=0.05)
    assert abs(results["relu"]["tail_ratio_slope"]) < 0.05
    assert len(results["tanh"]["complement_drift"]) == len(eps)
    check_replot(smoothness, tmp_path, "smoothness.png")


def test_two_layer_subspace_rejects_zero_steps(tmp_path):
    with pytest.raises(ValueError, match="--steps must be at least 1"):
        two_layer_subspace.main(["--steps", "0", "--out", str(tmp_path)])
