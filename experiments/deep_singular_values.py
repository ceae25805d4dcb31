"""Show that in a 4-layer MLP with a smooth activation only a few singular values of each layer move.

Trains every layer of f(X) = W4 phi(W3 phi(W2 phi(W1 X))) by full-batch
gradient descent on the summed squared loss, from a small semi-orthogonal
initialization W_l(0) = eps Q_l, on orthogonal synthetic data (N = d samples,
X X^T = I, one-hot Y for K classes). The two-layer theory (W2 fixed, only W1
trained) does not cover this network, so the script measures whether its
low-rank picture still holds.

eps is 0.2 here, not the 1e-2 of the two-layer setting, because with every
layer at scale eps the output is of order eps^4 and training starts at a
saddle. With GELU and SiLU the loss first halved after about 770 steps at
eps = 0.2 and about 3100 steps at eps = 0.1 (5000 steps, other settings default).

Each layer's update W_l(T) - W_l(0) is summarized by three numbers:
- ``moved``, how many of its singular values exceed MOVED_TOL times the largest.
- ``top_2K_energy``, the share of its squared Frobenius norm in the top 2K
  singular directions (``subspace.top_energy_fraction``).
- ``effective_rank`` (``subspace.effective_rank``).
The last layer is K x width, so its update has rank <= K and its energy
fraction is 1 by construction. Only the other layers test the claim.

Figures (from ``arrays.npz``):
- ``first_layer.png``: one panel per activation with every singular value of
  W1 over training. With ELU, GELU and SiLU, K of them grow and the rest stay
  near eps. With ReLU many of the rest spread away from eps.
- ``all_layers.png``: the same for every layer (rows: activations, columns: layers).

Measured with the defaults (``python experiments/deep_singular_values.py``,
seed 0, 4 to 8 s on 2 cores): the top-2K share of the W1 update is 0.9999
(ELU), 0.9991 (GELU) and 0.9996 (SiLU) against 0.790 for ReLU (0.749 with
seeds 1 and 2). For the smooth activations ``moved`` is K = 3 in every
layer, and for ReLU it is 26 in W1. ReLU's hidden-to-hidden layers stay
concentrated here too (share 0.997 for W2 and 0.9997 for W3), so on this data
the contrast is in the first layer.

Outputs go to ``results/deep_singular_values/`` unless ``--out`` is given.
metrics.json keys: ``config`` (the settings) and ``runs``, one entry per
activation with ``activation``, ``final_loss``, ``seconds`` and ``layers``,
a list of {``layer``, ``shape``, ``moved``, ``top_2K_energy``, ``effective_rank``}.
arrays.npz keys, per activation a: ``a_loss``, ``a_record_steps``,
``a_weight_sv_l`` (singular values of W_l at each recorded step) and
``a_top_2K_energy`` (records x layers, the top-2K share of each update so far).
"""

import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mlp  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from data import orthogonal_data  # noqa: E402
from experiments.common import (  # noqa: E402
    format_table,
    make_parser,
    prepare_output,
    run_cli,
    save_figure,
    save_npz,
    setup_logging,
    write_json,
)
from gd import GradientDescent, train  # noqa: E402
from mlp import init_weights  # noqa: E402
from subspace import effective_rank, top_energy_fraction  # noqa: E402

log = logging.getLogger("deep_singular_values")

D, WIDTH, K, DEPTH = 30, 60, 3, 4  # input dim (= N), hidden width, classes, number of layers
EPS, ETA, STEPS, RECORD_EVERY = 0.2, 0.05, 1500, 10
ACTIVATIONS = ("elu", "gelu", "silu", "relu")
MOVED_TOL = 0.1  # a singular value of the update "moved" if it exceeds this times the largest
QUICK = {"d": 16, "width": 16, "K": 2, "eps": 0.5, "eta": 0.1, "steps": 500, "record_every": 10}


def layer_widths(d, width, K, depth):
    """Return [d, width, ..., width, K] for a network with ``depth`` weight matrices."""
    if depth < 2:
        raise ValueError(f"depth must be at least 2 weight matrices, got {depth}")
    return [d] + [width] * (depth - 1) + [K]


def update_summary(W_init, W_final, K, moved_tol=MOVED_TOL):
    """Summarize the update W_final - W_init of one layer (both n_out x n_in).

    Returns a dict with ``moved`` (number of singular values of the update
    above ``moved_tol`` times the largest), ``top_2K_energy`` (share of the
    squared Frobenius norm in the top 2K singular directions) and
    ``effective_rank``.
    """
    update = W_final - W_init
    s = np.linalg.svd(update, compute_uv=False)
    moved = int(np.sum(s > moved_tol * s[0])) if s[0] > 0 else 0
    return {"moved": moved,
            "top_2K_energy": top_energy_fraction(update, 2 * K),
            "effective_rank": effective_rank(update)}


def run_deep(activation, d=D, width=WIDTH, K=K, depth=DEPTH, eps=EPS, eta=ETA, steps=STEPS,
             record_every=RECORD_EVERY, seed=0):
    """Train all layers of a ``depth``-layer MLP on orthogonal data; return (history, summary).

    Data and weights come from ``seed``, so every activation starts from the
    same X, Y and W(0). ``history`` is the ``gd.History`` of the run, with
    ``extra["top_2K_energy"]`` holding, at each recorded step, the top-2K
    energy of every layer's update so far. ``summary`` is one
    ``update_summary`` dict per layer, plus ``layer`` and ``shape``.
    """
    rng = np.random.default_rng(seed)
    X, Y, _ = orthogonal_data(d, K, rng)
    weights = init_weights(layer_widths(d, width, K, depth), "orthogonal", eps, rng)
    initial = [W.copy() for W in weights]

    def energy_so_far(step, weights, grads):
        return {"top_2K_energy": [top_energy_fraction(W - W0, 2 * K) for W, W0 in zip(weights, initial)]}

    history = train(weights, X, Y, activation, GradientDescent(eta), steps,
                    record_every=record_every, callback=energy_so_far)
    summary = []
    for layer, (W0, W) in enumerate(zip(initial, weights), start=1):
        summary.append({"layer": layer, "shape": list(W.shape), **update_summary(W0, W, K)})
    return history, summary


def plot_singular_values(ax, steps, sv, K, eps):
    """Draw each column of ``sv`` (records x singular values) against ``steps`` on a log scale.

    The K largest are blue, the next K orange and the rest gray, so a
    low-rank update shows as at most 2K colored curves leaving the gray band at eps.
    """
    n = sv.shape[1]
    for i in range(n):
        if i < K:
            color, label = "tab:blue", f"$\\sigma_1 \\dots \\sigma_{{{K}}}$"
        elif i < 2 * K:
            color, label = "tab:orange", f"$\\sigma_{{{K + 1}}} \\dots \\sigma_{{{2 * K}}}$"
        else:
            color, label = "0.6", f"$\\sigma_{{{2 * K + 1}}}$ and below"
        first_of_group = i in (0, K, 2 * K)
        ax.plot(steps, sv[:, i], color=color, lw=1.0, label=label if first_of_group else None)
    ax.axhline(eps, color="k", ls=":", lw=0.8, label=f"eps = {eps:g}")
    ax.set_yscale("log")


def plot(out, config, activations):
    """Draw first_layer.png and all_layers.png from out/arrays.npz."""
    arrays = np.load(out / "arrays.npz")
    K, eps, depth = config["K"], config["eps"], config["depth"]

    fig, axes = plt.subplots(1, len(activations), figsize=(4 * len(activations), 3.6),
                             sharey=True, squeeze=False)
    for ax, activation in zip(axes[0], activations):
        steps = arrays[f"{activation}_record_steps"]
        plot_singular_values(ax, steps, arrays[f"{activation}_weight_sv_1"], K, eps)
        ax.set_title(f"{activation}: W1 ({config['width']} x {config['d']})")
        ax.set_xlabel("iteration")
    axes[0, 0].set_ylabel("singular value (log scale)")
    axes[0, -1].legend(loc="center right", fontsize=8)
    fig.suptitle(f"Singular values of the first layer of a {depth}-layer MLP, all layers trained by GD "
                 f"(d = N = {config['d']}, K = {K}, eps = {eps:g}, eta = {config['eta']:g})")
    fig.tight_layout()
    save_figure(fig, out / "first_layer.png")

    fig, axes = plt.subplots(len(activations), depth, figsize=(3.2 * depth, 2.6 * len(activations)),
                             sharex=True, squeeze=False)
    for row, activation in enumerate(activations):
        steps = arrays[f"{activation}_record_steps"]
        for layer in range(1, depth + 1):
            ax = axes[row, layer - 1]
            plot_singular_values(ax, steps, arrays[f"{activation}_weight_sv_{layer}"], K, eps)
            ax.set_title(f"{activation}: W{layer}", fontsize=10)
            if row == len(activations) - 1:
                ax.set_xlabel("iteration")
        axes[row, 0].set_ylabel("singular value (log scale)")
    axes[0, 0].legend(loc="upper left", fontsize=7)
    fig.suptitle(f"Singular values of every layer over training ({depth} layers, all trained by GD)")
    fig.tight_layout()
    save_figure(fig, out / "all_layers.png")


def main(argv=None):
    parser = make_parser(__doc__.splitlines()[0], "deep_singular_values")
    parser.add_argument("--activations", nargs="+", default=list(ACTIVATIONS), choices=tuple(mlp.ACTIVATIONS),
                        help="activations to compare (mlp.ACTIVATIONS names)")
    parser.add_argument("--d", type=int, default=D, help="input dimension, also the number of samples N")
    parser.add_argument("--width", type=int, default=WIDTH, help="width of every hidden layer")
    parser.add_argument("--K", type=int, default=K, help="number of classes (output dimension)")
    parser.add_argument("--depth", type=int, default=DEPTH, help="number of weight matrices")
    parser.add_argument("--eps", type=float, default=EPS, help="scale of the orthogonal initialization")
    parser.add_argument("--eta", type=float, default=ETA, help="gradient descent step size")
    parser.add_argument("--steps", type=int, default=STEPS, help="number of gradient descent steps")
    parser.add_argument("--record-every", type=int, default=RECORD_EVERY,
                        help="record singular values every this many steps")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) == parser.get_default(name):  # explicit flags win over --quick
                setattr(args, name, value)
    setup_logging()
    out = prepare_output(args.out)
    config = {name: getattr(args, name) for name in
              ("d", "width", "K", "depth", "eps", "eta", "steps", "record_every", "seed")}
    config["widths"] = layer_widths(args.d, args.width, args.K, args.depth)
    config["moved_tol"] = MOVED_TOL

    runs, arrays = [], {}
    for activation in args.activations:
        log.info("%s: training %d layers for %d steps", activation, args.depth, args.steps)
        start = time.perf_counter()
        history, summary = run_deep(activation, args.d, args.width, args.K, args.depth, args.eps,
                                    args.eta, args.steps, args.record_every, args.seed)
        seconds = time.perf_counter() - start
        log.info("%s: done in %.1f s, final loss %.3g", activation, seconds, history.loss[-1])
        runs.append({"activation": activation, "final_loss": float(history.loss[-1]),
                     "seconds": seconds, "layers": summary})
        arrays[f"{activation}_loss"] = history.loss
        arrays[f"{activation}_record_steps"] = history.record_steps
        arrays[f"{activation}_top_2K_energy"] = np.array(history.extra["top_2K_energy"])
        for layer, sv in enumerate(history.weight_sv, start=1):
            arrays[f"{activation}_weight_sv_{layer}"] = sv

    metrics = {"config": config, "runs": runs}
    write_json(out / "metrics.json", metrics)
    save_npz(out / "arrays.npz", **arrays)
    plot(out, config, args.activations)

    rows = []
    for run in runs:
        for layer in run["layers"]:
            rows.append({"activation": run["activation"], "final loss": run["final_loss"],
                         "layer": f"W{layer['layer']}", "shape": "x".join(map(str, layer["shape"])),
                         "moved": layer["moved"], "top-2K energy": f"{layer['top_2K_energy']:.4f}",
                         "eff. rank": f"{layer['effective_rank']:.2f}"})
    print(f"Updates W_l(T) - W_l(0) after {args.steps} GD steps, all {args.depth} layers trained "
          f"(d = N = {args.d}, width = {args.width}, K = {args.K}, eps = {args.eps:g}, eta = {args.eta:g}); "
          f"'moved' counts singular values above {MOVED_TOL:g} x the largest:")
    print(format_table(rows, ["activation", "final loss", "layer", "shape", "moved",
                              "top-2K energy", "eff. rank"]))
    print(f"Figures and metrics in {out}")
    return metrics


if __name__ == "__main__":
    run_cli(main)
