"""Relax the theory's assumptions one at a time and measure whether the first-layer update stays low-rank.

The theory's setting is the baseline row: a two-layer net f(X) = W2 phi(W1 X)
with only W1 trained, W2 fixed with orthonormal rows, W1(0) = eps Q with Q
semi-orthogonal and eps small, whitened inputs, the summed squared loss and
full-batch gradient descent. Each other row changes one of these:

- ``depth L`` (L = 3, 4, 6): a deeper net with every layer trained. Hidden
  layers start orthogonal at scale 1 / phi'(0) (sqrt(2) for ReLU), so that
  the linearization around 0 has the gain of the two-layer net. W1 and the
  last layer start as in the baseline. These rows also train every layer, so
  compare them with ``train both layers`` as well as with the baseline.
- ``train both layers``: the two-layer net with W2 trained too.
- ``SGD (batch B)``: mini-batches of B samples, a fresh permutation each epoch.
- ``Adam``: Adam on W1, with its own step size.
- ``unwhitened X``: inputs with unequal singular values, rescaled to the
  spectral norm of the whitened ones so that the same step size is stable.
  On synthetic data the whitened X is mixed by a fixed matrix with singular
  values log-spaced from 1 to 1 / cond (one row per cond in UNWHITENED_CONDS).
  On MNIST-1D it is the standardized data.
- ``cross-entropy``: the mean softmax cross-entropy, with its own step size.
- ``He init`` and ``Xavier init``: W1(0) from ``mlp.init_weights`` at its
  default scale instead of eps Q.

Each row reports, for the first layer's update W1(T) - W1(0), the share of its
squared Frobenius norm in its top 2K singular directions
(``subspace.top_energy_fraction``) and its effective rank
(``subspace.effective_rank``). Rows with depth >= 3 also report the share for
the hidden-to-hidden layer W2. The verdict is "keeps" when the W1 share is at
least LOW_RANK_THRESHOLD and "breaks" otherwise.

Read every share against the share of an i.i.d. Gaussian matrix of the same
shape (``random_top_2K_energy``), because 2K directions out of min(width, d)
carry a fixed share even for an unstructured update.

Measured with the defaults (seed 0):
- ``python experiments/beyond_theory.py`` (synthetic, d = N = 30, width 60,
  K = 3, eps = 0.01, 3000 steps; 6 to 12 s on 2 cores). SiLU keeps a share
  of 1.0000 (effective rank about 3) with depth 3, 4 and 6, both layers
  trained, SGD and cross-entropy. He and Xavier initialization keep 0.97 and
  0.99 but raise the effective rank to 13 and 9. Unwhitened inputs with
  condition number 10 give 0.955, with 30 give 0.85. Adam gives 0.745. ReLU
  gives 0.54 to 0.83 on every row. A random 60 x 30 matrix gives 0.43.
- ``python experiments/beyond_theory.py --data mnist1d`` (2000 training
  samples, width 64, K = 10, 300 steps; 22 to 32 s on 2 cores shared with
  other jobs, with the one BLAS thread that the script sets by default).
  Every row ends between 0.82 and 0.94 for SiLU and ReLU alike, against 0.82
  for a random 64 x 40 matrix, with effective rank 30 to 36 of 40. The one
  exception, unwhitened SiLU at 0.994, has barely trained (training accuracy
  0.32). The curves show the SiLU baseline at 0.99 or more for its first 54
  steps, while the network is near-linear, and falling to 0.91 once it fits
  more than a linear map can. The ReLU baseline is at 0.95 already at step 6.
  The ReLU rows of depth 4 and 6 change with the number of BLAS threads (depth
  6 ended at loss 124 with two threads and 267 with one), because ReLU
  amplifies rounding differences. The other rows agree to the digits shown.

NOTE: on MNIST-1D (d = 40, K = 10) the top 2K = 20 directions are half of the
input space, so the W1 share cannot tell a low-rank update from a random one
well. The hidden-to-hidden share of the deep rows (20 of 64 directions,
random 0.72) is the sharper measurement there.

Outputs go to ``results/beyond_theory/<data>/`` unless ``--out`` is given:
- ``variants.png`` (from metrics.json): final W1 share and effective rank per
  variant, one bar per activation, with the random reference.
- ``share_over_training.png`` (from arrays.npz): W1 share against iteration,
  one panel per activation, one line per variant.
- ``metrics.json``: ``config`` (settings, ``random_top_2K_energy``,
  ``random_effective_rank``, ``random_hidden_top_2K_energy``) and ``rows``,
  one per (variant, activation), with ``variant``, ``activation``, ``steps``,
  ``eta``, ``final_loss``, ``train_accuracy``, ``test_accuracy`` (None on
  synthetic data), ``top_2K_energy``, ``effective_rank``,
  ``hidden_top_2K_energy`` (None below depth 3), ``verdict`` and ``seconds``.
- ``arrays.npz``: for row i, ``update_sv_i`` (singular values of the W1
  update), ``loss_i``, ``record_steps_i`` and ``top_2K_curve_i``.
"""
import argparse
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":
    # One BLAS thread, unless the caller chose otherwise. It must be set before
    # NumPy loads. On a 2-core machine shared with other jobs, the MNIST-1D run
    # took 22 to 32 s with one thread and 31 s to 5 min with OpenBLAS's default
    # threads, which wait on each other when the cores are busy.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mlp  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from data import load_mnist1d, orthogonal_data, standardize  # noqa: E402
from experiments.common import (  # noqa: E402
    RESULTS_DIR,
    format_table,
    make_parser,
    prepare_output,
    read_json,
    run_cli,
    save_figure,
    save_npz,
    setup_logging,
    write_json,
)
from gd import Adam, GradientDescent, train  # noqa: E402
from mlp import get_activation, init_weights, predict  # noqa: E402
from subspace import effective_rank, semi_orthogonal, top_energy_fraction  # noqa: E402

log = logging.getLogger("beyond_theory")

ACTIVATIONS = ("silu", "relu")
DEPTHS = (3, 4, 6)
INIT_SCHEMES = ("he", "xavier")
LOW_RANK_THRESHOLD = 0.95
UNWHITENED_CONDS = (10.0, 30.0)  # condition numbers of the unwhitened synthetic inputs
RANDOM_DRAWS = 20  # Gaussian matrices averaged for the random reference
N_RECORDS = 50  # points on each top-2K share curve

# Defaults per data set. eta is the gradient descent step for the summed
# squared loss. adam_eta and ce_eta are the steps of the Adam and
# cross-entropy (mean loss) rows. The SGD row scales eta by N / batch_size.
# Unwhitened rows train unwhitened_steps_factor times longer, because their
# smallest input directions learn cond^2 times slower.
# NOTE: the MNIST-1D eta (1e-3) is tuned for n_train = 2000. The summed loss
# grows with N, so a larger n_train needs a proportionally smaller eta.
DEFAULTS = {
    "synthetic": {"d": 30, "width": 60, "K": 3, "eps": 1e-2, "eta": 0.05, "adam_eta": 1e-3,
                  "ce_eta": 1.0, "steps": 3000, "batch_size": 10, "unwhitened_steps_factor": 10},
    "mnist1d": {"n_train": 2000, "width": 64, "eps": 1e-2, "eta": 1e-3, "adam_eta": 1e-3,
                "ce_eta": 2.0, "steps": 300, "batch_size": 100, "unwhitened_steps_factor": 1},
}
QUICK = {
    "synthetic": {"d": 12, "width": 16, "K": 2, "steps": 200, "batch_size": 4},
    "mnist1d": {"n_train": 200, "width": 48, "eta": 1e-2, "steps": 30, "batch_size": 50},
}


@dataclass(frozen=True)
class Variant:
    """One row of the table, the theory's setting with the listed changes."""

    name: str
    depth: int = 2
    train_all: bool = False
    optimizer: str = "gd"
    batch_size: int | None = None
    whitened: bool = True
    loss: str = "squared"
    init: str = "orthogonal"
    cond: float | None = None  # condition number of unwhitened synthetic inputs


def make_variants(depths=DEPTHS, batch_size=10, unwhitened_conds=UNWHITENED_CONDS,
                  init_schemes=INIT_SCHEMES):
    """Return the baseline followed by one Variant per relaxed assumption.

    unwhitened_conds: condition numbers of the unwhitened synthetic inputs,
    one row each; None gives a single row that uses the data set's own
    unwhitened inputs (MNIST-1D).
    """
    variants = [Variant("theory (baseline)")]
    variants += [Variant(f"depth {depth}", depth=depth, train_all=True) for depth in depths]
    variants += [
        Variant("train both layers", train_all=True),
        Variant(f"SGD (batch {batch_size})", batch_size=batch_size),
        Variant("Adam", optimizer="adam"),
    ]
    if unwhitened_conds is None:
        variants.append(Variant("unwhitened X", whitened=False))
    else:
        variants += [Variant(f"unwhitened X (cond {cond:g})", whitened=False, cond=cond)
                     for cond in unwhitened_conds]
    variants.append(Variant("cross-entropy", loss="cross_entropy"))
    variants += [Variant(f"{scheme.capitalize()} init", init=scheme) for scheme in init_schemes]
    return variants


# ---------------------------------------------------------------------------
# Data: whitened and unwhitened versions of the same inputs
# ---------------------------------------------------------------------------


@dataclass
class Prepared:
    """Training and test inputs in whitened and unwhitened form, with one-hot targets.

    Samples are columns. X_white: (d, N) with X X^T = I (synthetic data) or
    N I (MNIST-1D). Y: (K, N). X_raw: (d, N) unwhitened inputs with the
    spectral norm of X_white, or None when they are built per variant by
    ``mixing`` (synthetic data). mixing: a pair (P, Q) of d x d orthogonal
    matrices, or None. The test arrays are None for synthetic data.
    """

    X_white: np.ndarray
    Y: np.ndarray
    X_raw: np.ndarray = None
    mixing: tuple = None
    X_white_test: np.ndarray = None
    X_raw_test: np.ndarray = None
    labels_test: np.ndarray = None

    def inputs(self, variant):
        """Return (X_train, X_test) for ``variant``. X_test is None for synthetic data."""
        if variant.whitened:
            return self.X_white, self.X_white_test
        if self.mixing is None:
            return self.X_raw, self.X_raw_test
        if variant.cond is None:
            raise ValueError(f"variant {variant.name!r} needs a condition number for synthetic data")
        # A = P diag(s) Q^T, with s log-spaced from 1 to 1 / cond, has spectral norm 1 and
        # condition number cond. It is invertible, so Y stays linearly realizable.
        P, Q = self.mixing
        s = np.logspace(0.0, -np.log10(variant.cond), P.shape[0])
        return (P * s) @ Q.T @ self.X_white, None


def inverse_sqrt(C):
    """Return C^(-1/2) for a symmetric positive definite C."""
    values, vectors = np.linalg.eigh(C)
    return (vectors / np.sqrt(values)) @ vectors.T


def synthetic_data(d, K, rng):
    """Return orthogonal data (N = d, X X^T = I, one-hot Y) and the factors of the unwhitening mixes."""
    X, Y, _ = orthogonal_data(d, K, rng)
    mixing = (semi_orthogonal(d, d, 1.0, rng), semi_orthogonal(d, d, 1.0, rng))
    return Prepared(X_white=X, Y=Y, mixing=mixing)


def mnist1d_data(n_train, rng):
    """Return ``n_train`` MNIST-1D training samples, whitened and unwhitened, and the test split.

    Both versions start from features standardized with the training mean and
    deviation. The whitened inputs are sqrt(N) (X X^T)^(-1/2) X, so that
    X X^T = N I. That is the theory's condition up to a scalar, chosen so
    that each sample has norm about sqrt(d) and the weights that fit one-hot
    targets are of order 1. The unwhitened inputs are the standardized ones rescaled
    to the same spectral norm, sqrt(N). Test inputs get the same maps.
    """
    dataset = load_mnist1d()
    n_available = dataset.X_train.shape[1]
    if not 1 <= n_train <= n_available:
        raise ValueError(f"n_train must be between 1 and {n_available}, got {n_train}")
    keep = rng.permutation(n_available)[:n_train]
    X, X_test = standardize(dataset.X_train[:, keep], dataset.X_test)
    whitening = math.sqrt(n_train) * inverse_sqrt(X @ X.T)
    raw_scale = math.sqrt(n_train) / np.linalg.norm(X, 2)
    return Prepared(X_white=whitening @ X, Y=dataset.Y_train[:, keep], X_raw=raw_scale * X,
                    X_white_test=whitening @ X_test, X_raw_test=raw_scale * X_test,
                    labels_test=dataset.labels_test)


# ---------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------


def hidden_scale(activation):
    """Return the scale that makes a hidden orthogonal layer's linearization an isometry.

    That is 1 / phi'(0) for a smooth activation, and sqrt(2) (He's gain) for
    ReLU, whose derivative at 0 is undefined and which passes about half of
    its inputs.
    """
    phi = get_activation(activation)
    if not phi.smooth:
        return math.sqrt(2.0)
    if phi.slope_at_0 == 0:
        raise ValueError(f"activation {phi.name!r} has phi'(0) = 0, so its hidden-layer scale is undefined")
    return 1.0 / abs(phi.slope_at_0)


def initial_weights(variant, activation, d, width, K, eps, rng):
    """Return [W1, ..., WL] for ``variant``: W1 from eps Q or an init scheme, the rest orthogonal."""
    if variant.init == "orthogonal":
        W1 = semi_orthogonal(width, d, eps, rng)
    else:
        W1 = init_weights([d, width], variant.init, 1.0, rng)[0]
    hidden = [semi_orthogonal(width, width, hidden_scale(activation), rng) for _ in range(variant.depth - 2)]
    return [W1] + hidden + [semi_orthogonal(K, width, 1.0, rng)]


def accuracy(weights, X, labels, activation):
    """Return the share of columns of X whose largest output is the label."""
    return float(np.mean(np.argmax(predict(weights, X, activation), axis=0) == labels))


@dataclass
class RunResult:
    """Measurements from one ``run_variant`` call.

    row: the table row (see the module docstring for its keys).
    update_sv: singular values of W1(T) - W1(0), decreasing.
    loss: (steps + 1,) loss curve. record_steps, top_2K_curve: (R,) the
    steps at which the top-2K share of W1(t) - W1(0) was recorded, and the share.
    """

    row: dict
    update_sv: np.ndarray
    loss: np.ndarray
    record_steps: np.ndarray
    top_2K_curve: np.ndarray


def run_variant(variant, activation, prepared, config, seed=0):
    """Train one variant and return a RunResult.

    config: dict with width, eps, eta, adam_eta, ce_eta, steps,
    unwhitened_steps_factor. Every variant draws its weights from ``seed``,
    so the rows differ only in the relaxed assumption.
    """
    rng = np.random.default_rng(seed)
    X, X_test = prepared.inputs(variant)
    Y = prepared.Y
    (d, n_samples), K = X.shape, Y.shape[0]
    weights = initial_weights(variant, activation, d, config["width"], K, config["eps"], rng)
    initial = [W.copy() for W in weights]

    frozen = [] if variant.train_all else list(range(1, variant.depth))
    if variant.optimizer == "adam":
        optimizer = Adam(config["adam_eta"], frozen=frozen)
    elif variant.loss == "cross_entropy":
        optimizer = GradientDescent(config["ce_eta"], frozen=frozen)
    elif variant.batch_size is not None:
        # A batch's summed loss is about batch_size / N of the full one, so
        # this scaling makes one SGD step as large as one full-batch step on average.
        optimizer = GradientDescent(config["eta"] * n_samples / variant.batch_size, frozen=frozen)
    else:
        optimizer = GradientDescent(config["eta"], frozen=frozen)
    steps = config["steps"] * (1 if variant.whitened else config["unwhitened_steps_factor"])

    def first_layer_share(step, weights, grads):
        return {"top_2K": top_energy_fraction(weights[0] - initial[0], 2 * K)}

    start = time.perf_counter()
    history = train(weights, X, Y, activation, optimizer, steps, loss=variant.loss,
                    batch_size=variant.batch_size, seed=seed,
                    record_every=max(1, steps // N_RECORDS), callback=first_layer_share)
    seconds = time.perf_counter() - start

    update = weights[0] - initial[0]
    labels = np.argmax(Y, axis=0)
    row = {"variant": variant.name, "activation": activation, "steps": steps,
           "eta": optimizer.eta, "final_loss": float(history.loss[-1]),
           "train_accuracy": accuracy(weights, X, labels, activation),
           "test_accuracy": None,
           "top_2K_energy": top_energy_fraction(update, 2 * K),
           "effective_rank": effective_rank(update),
           "hidden_top_2K_energy": None,
           "seconds": seconds}
    if X_test is not None:
        row["test_accuracy"] = accuracy(weights, X_test, prepared.labels_test, activation)
    if variant.depth >= 3:
        row["hidden_top_2K_energy"] = top_energy_fraction(weights[1] - initial[1], 2 * K)
    row["verdict"] = "keeps" if row["top_2K_energy"] >= LOW_RANK_THRESHOLD else "breaks"
    return RunResult(row=row, update_sv=np.linalg.svd(update, compute_uv=False), loss=history.loss,
                     record_steps=history.record_steps,
                     top_2K_curve=np.array(history.extra["top_2K"]))


def random_reference(shape, K, draws=RANDOM_DRAWS, seed=0):
    """Return the mean top-2K energy share and effective rank of i.i.d. Gaussian matrices of ``shape``."""
    rng = np.random.default_rng(seed)
    samples = [rng.standard_normal(shape) for _ in range(draws)]
    return (float(np.mean([top_energy_fraction(G, 2 * K) for G in samples])),
            float(np.mean([effective_rank(G) for G in samples])))


# ---------------------------------------------------------------------------
# Figure and table
# ---------------------------------------------------------------------------


def plot_bars(out):
    """Draw variants.png from out/metrics.json: the final W1 share and effective rank per variant."""
    metrics = read_json(out / "metrics.json")
    config, rows = metrics["config"], metrics["rows"]
    variants = list(dict.fromkeys(row["variant"] for row in rows))
    activations = list(dict.fromkeys(row["activation"] for row in rows))
    lookup = {(row["variant"], row["activation"]): row for row in rows}
    positions = np.arange(len(variants))
    bar = 0.8 / len(activations)

    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * len(variants) + 2.0), sharey=True)
    panels = [("top_2K_energy", f"share of update energy in the top 2K = {2 * config['K']} directions",
               config["random_top_2K_energy"]),
              ("effective_rank", "effective rank of the update", config["random_effective_rank"])]
    for ax, (key, xlabel, reference) in zip(axes, panels):
        for i, activation in enumerate(activations):
            values = [lookup[(variant, activation)][key] for variant in variants]
            ax.barh(positions + (i - (len(activations) - 1) / 2) * bar, values, height=bar, label=activation)
        ax.axvline(reference, color="k", ls="--", lw=1, label="i.i.d. Gaussian matrix")
        ax.set_xlabel(xlabel)
    axes[0].axvline(LOW_RANK_THRESHOLD, color="tab:red", ls=":", lw=1,
                    label=f"threshold {LOW_RANK_THRESHOLD:g}")
    axes[0].set_xlim(0, 1.02)
    axes[0].set_yticks(positions, variants)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("variant (one assumption relaxed)")
    axes[0].set_title("W1(T) - W1(0): energy in the top 2K directions")
    axes[1].set_title(f"W1(T) - W1(0): effective rank (at most {config['max_rank']})")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
    fig.suptitle(f"Which relaxed assumptions keep the first-layer update low-rank ({config['data']} data, "
                 f"d = {config['d']}, K = {config['K']}, width = {config['width']})")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save_figure(fig, out / "variants.png")


def plot_curves(out):
    """Draw share_over_training.png from out/arrays.npz: the W1 share against iteration.

    Step 0 is left out: the update is zero there, so its share is undefined.
    """
    metrics = read_json(out / "metrics.json")
    config, rows = metrics["config"], metrics["rows"]
    arrays = np.load(out / "arrays.npz")
    variants = list(dict.fromkeys(row["variant"] for row in rows))
    activations = list(dict.fromkeys(row["activation"] for row in rows))
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, len(activations), figsize=(6.5 * len(activations), 4.5),
                             sharey=True, squeeze=False)
    for ax, activation in zip(axes[0], activations):
        for index, row in enumerate(rows):
            if row["activation"] != activation:
                continue
            steps, shares = arrays[f"record_steps_{index}"], arrays[f"top_2K_curve_{index}"]
            position = variants.index(row["variant"])
            if position == 0:
                style = {"color": "k", "lw": 2.5, "zorder": 3}
            else:  # the ten cycle colors, then the same colors dashed
                style = {"color": palette[(position - 1) % len(palette)], "lw": 1.3,
                         "ls": "-" if position <= len(palette) else "--"}
            ax.plot(steps[steps > 0], shares[steps > 0], label=row["variant"], **style)
        ax.axhline(config["random_top_2K_energy"], color="k", ls="--", lw=0.8, label="i.i.d. Gaussian matrix")
        ax.axhline(LOW_RANK_THRESHOLD, color="tab:red", ls=":", lw=0.8,
                   label=f"threshold {LOW_RANK_THRESHOLD:g}")
        ax.set_xscale("log")
        ax.set_xlabel("iteration (log scale)")
        ax.set_title(f"{activation}: share of W1(t) - W1(0) in its top 2K directions", fontsize=10)
    axes[0, 0].set_ylabel("top-2K energy share")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8)
    fig.suptitle(f"First-layer update over training ({config['data']} data, d = {config['d']}, "
                 f"K = {config['K']}, width = {config['width']})")
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    save_figure(fig, out / "share_over_training.png")


def print_table(metrics):
    """Print the rows of ``metrics`` as a fixed-width table."""
    config = metrics["config"]
    columns = ["variant", "activation", "final loss", "train acc"]
    if config["data"] == "mnist1d":
        columns.append("test acc")
    columns += ["W1 top-2K", "W1 eff. rank", "W2 top-2K", "verdict"]
    rows = []
    for row in metrics["rows"]:
        hidden = row["hidden_top_2K_energy"]
        rows.append({"variant": row["variant"], "activation": row["activation"],
                     "final loss": row["final_loss"], "train acc": f"{row['train_accuracy']:.3f}",
                     "test acc": "" if row["test_accuracy"] is None else f"{row['test_accuracy']:.3f}",
                     "W1 top-2K": f"{row['top_2K_energy']:.4f}",
                     "W1 eff. rank": f"{row['effective_rank']:.2f}",
                     "W2 top-2K": "-" if hidden is None else f"{hidden:.4f}",
                     "verdict": row["verdict"]})
    factor = config["unwhitened_steps_factor"]
    longer = f", unwhitened rows {factor} times longer" if factor != 1 else ""
    print(f"First-layer update W1(T) - W1(0) after {config['steps']} steps{longer}, on {config['data']} data "
          f"(d = {config['d']}, width = {config['width']}, K = {config['K']}, N = {config['n_train']}, "
          f"eps = {config['eps']:g}, eta = {config['eta']:g}):")
    print(format_table(rows, columns))
    print(f"For reference, an i.i.d. Gaussian {config['width']} x {config['d']} matrix has top-2K share "
          f"{config['random_top_2K_energy']:.3f} and effective rank {config['random_effective_rank']:.1f}. "
          f"'W2 top-2K' is the hidden-to-hidden layer's share (depth >= 3 only). A Gaussian "
          f"{config['width']} x {config['width']} matrix has {config['random_hidden_top_2K_energy']:.3f}. "
          f"'verdict' is 'keeps' when the W1 share is >= {LOW_RANK_THRESHOLD:g}.")


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def make_beyond_parser():
    """Return the argument parser. Flags that depend on --data default to None and come from DEFAULTS."""
    parser = make_parser(__doc__.splitlines()[0], "beyond_theory")
    parser.add_argument("--data", choices=tuple(DEFAULTS), default="synthetic",
                        help="synthetic orthogonal data or MNIST-1D. It sets the defaults of the flags below")
    parser.add_argument("--activations", nargs="+", default=list(ACTIVATIONS), choices=tuple(mlp.ACTIVATIONS),
                        help="activations to compare (mlp.ACTIVATIONS names)")
    parser.add_argument("--depths", nargs="+", type=int, default=list(DEPTHS),
                        help="depths (number of weight matrices) of the deeper variants")
    help_text = {
        "d": "input dimension and number of samples (synthetic data only)",
        "n_train": "number of MNIST-1D training samples used (MNIST-1D only)",
        "width": "hidden width",
        "K": "number of classes (synthetic data only, because MNIST-1D has 10)",
        "eps": "scale of W1(0) = eps Q",
        "eta": "gradient descent step size for the summed squared loss",
        "adam_eta": "step size of the Adam variant",
        "ce_eta": "gradient descent step size of the cross-entropy variant (mean loss)",
        "steps": "number of updates for every variant except the unwhitened ones",
        "batch_size": "mini-batch size of the SGD variant",
        "unwhitened_steps_factor": "unwhitened variants train this many times longer",
    }
    for name, text in help_text.items():
        kind = float if name in ("eps", "eta", "adam_eta", "ce_eta") else int
        defaults = ", ".join(f"{data} {values[name]:g}"
                             for data, values in DEFAULTS.items() if name in values)
        # SUPPRESS leaves the flag out of args unless given, and keeps the
        # formatter from printing a misleading "(default: None)".
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind,
                            default=argparse.SUPPRESS, help=f"{text} (default: {defaults})")
    return parser


def resolve_config(args):
    """Return the settings: DEFAULTS for the data set, then QUICK if --quick, then explicit flags."""
    config = dict(DEFAULTS[args.data])
    if args.quick:
        config.update(QUICK[args.data])
    for name in list(config):
        value = getattr(args, name, None)
        if value is not None:
            config[name] = value
    config["data"] = args.data
    config["seed"] = args.seed
    config["activations"] = list(args.activations)
    config["depths"] = list(args.depths)
    return config


def main(argv=None):
    args = make_beyond_parser().parse_args(argv)
    config = resolve_config(args)
    setup_logging()
    default_out = RESULTS_DIR / "beyond_theory"
    out = prepare_output(default_out / args.data if args.out == default_out else args.out)

    rng = np.random.default_rng(args.seed)
    if config["data"] == "synthetic":
        prepared = synthetic_data(config["d"], config["K"], rng)
    else:
        log.info("generating MNIST-1D")
        prepared = mnist1d_data(config["n_train"], rng)
        config["d"], config["K"] = prepared.X_white.shape[0], prepared.Y.shape[0]
    config["n_train"] = prepared.X_white.shape[1]
    config["max_rank"] = min(config["width"], config["d"])
    config["random_top_2K_energy"], config["random_effective_rank"] = random_reference(
        (config["width"], config["d"]), config["K"])
    config["random_hidden_top_2K_energy"], _ = random_reference(
        (config["width"], config["width"]), config["K"])
    config["low_rank_threshold"] = LOW_RANK_THRESHOLD

    conds = UNWHITENED_CONDS if config["data"] == "synthetic" else None
    variants = make_variants(config["depths"], config["batch_size"], conds)
    rows, arrays = [], {}
    total = len(variants) * len(config["activations"])
    for activation in config["activations"]:
        for variant in variants:
            index = len(rows)
            log.info("[%d/%d] %s, %s", index + 1, total, variant.name, activation)
            result = run_variant(variant, activation, prepared, config, args.seed)
            row = result.row
            log.info("    loss %.3g, W1 top-2K share %.4f, effective rank %.2f (%.1f s)",
                     row["final_loss"], row["top_2K_energy"], row["effective_rank"], row["seconds"])
            rows.append(row)
            arrays[f"update_sv_{index}"] = result.update_sv
            arrays[f"loss_{index}"] = result.loss
            arrays[f"record_steps_{index}"] = result.record_steps
            arrays[f"top_2K_curve_{index}"] = result.top_2K_curve

    metrics = {"config": config, "rows": rows}
    write_json(out / "metrics.json", metrics)
    save_npz(out / "arrays.npz", **arrays)
    plot_bars(out)
    plot_curves(out)
    print_table(metrics)
    print(f"Figures and metrics in {out}")
    return metrics


if __name__ == "__main__":
    run_cli(main)
