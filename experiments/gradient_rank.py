"""Working assumption: the gradient of W1 stays close to rank K, and the network close to its linearization.

Trains W1 of f(X) = W2 phi(W1 X) (W2 frozen, full-batch gradient descent,
summed squared loss, orthogonal synthetic data) once per activation, and
records at every step:

- sigma_{K+1}(G1(t)) / sigma_1(G1(t)), the gradient's spectral tail;
- the linearization error ||W2 phi(W1 X) - phi'(0) W2 W1 X||_F / ||W2 phi(W1 X)||_F.

The figure should show the tail ratio at rounding level (about 1e-16) for
the linear activation, between 1e-6 and about 1e-3 for the smooth ones
(tanh lowest, because phi''(0) = 0), and about 0.5 for ReLU until its slow
last phase. The linearization error of the smooth activations levels off
within about 30 steps, lowest for tanh. With the defaults and seed 0 it ends at
0.016 (tanh), 0.06 (ELU, SiLU) and 0.11 (GELU), against 0.42 for ReLU
(with slope 1/2). Once the loss reaches float64 rounding (below
LOSS_FLOOR) the gradient is rounding noise, so those steps are drawn faint
and left out of the summaries.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from experiments.common import (  # noqa: E402
    format_table,
    make_parser,
    plt,
    prepare_output,
    read_json,
    run_cli,
    save_figure,
    save_npz,
    write_json,
)
from experiments.two_layer_subspace import (  # noqa: E402
    EPS,
    LOSS_FLOOR,
    STEPS,
    add_problem_flags,
    make_problem,
    reduce_while_training,
    steps_from_args,
)
from gd import GradientDescent, train  # noqa: E402
from metrics import linearization_error, tail_ratio  # noqa: E402

RECORD_EVERY = 1
# mlp takes ReLU's derivative at 0 as 0, which would make its linear model
# zero. The mean of its one-sided slopes, 1/2, gives a fairer comparison.
RELU_SLOPE = 0.5


def run_activation(activation, X, Y, W1_init, W2, eta, steps, record_every, relu_slope):
    """Train W1 for one activation and return (summary dict, dict of per-step arrays)."""
    K = Y.shape[0]
    slope = relu_slope if activation == "relu" else None

    def callback(step, weights, grads):
        return {"linearization_error": linearization_error(weights[0], W2, X, activation, slope)}

    history = train([W1_init.copy(), W2], X, Y, activation, GradientDescent(eta, frozen=[1]), steps,
                    record_every=record_every, callback=callback)
    # train already recorded the singular values of G1, so no second SVD per step.
    tail = tail_ratio(history.grad_sv[0], K)
    linear_error = np.asarray(history.extra["linearization_error"])
    recorded_loss = history.loss[history.record_steps]
    training = recorded_loss > LOSS_FLOOR
    below = np.flatnonzero(history.loss <= LOSS_FLOOR)
    summary = {
        "final_loss": float(history.loss[-1]),
        "first_step_below_loss_floor": int(below[0]) if below.size else None,
        "gradient_tail_ratio_init": float(tail[0]),
        "max_gradient_tail_ratio": reduce_while_training(np.max, tail, training),
        "linearization_error_init": float(linear_error[0]),
        "max_linearization_error": float(np.max(linear_error)),
        "final_linearization_error": float(linear_error[-1]),
    }
    arrays = {"record_steps": history.record_steps, "loss": history.loss,
              "gradient_tail_ratio": tail, "linearization_error": linear_error}
    return summary, arrays


def plot(out):
    """Draw the figure from metrics.json and arrays.npz in ``out``; return the PNG path."""
    metrics = read_json(out / "metrics.json")
    config = metrics["config"]
    with np.load(out / "arrays.npz") as saved:
        arrays = {key: saved[key] for key in saved.files}

    fig, (tail_ax, linear_ax, loss_ax) = plt.subplots(1, 3, figsize=(15, 4.3))
    for index, activation in enumerate(metrics["activations"]):
        color = f"C{index}"
        steps = arrays[f"{activation}/record_steps"]
        loss = arrays[f"{activation}/loss"]
        training = loss[steps] > LOSS_FLOOR
        shown = steps >= 1
        tail = arrays[f"{activation}/gradient_tail_ratio"]
        tail_ax.plot(steps[shown & training], tail[shown & training], color=color, label=activation)
        tail_ax.plot(steps[shown & ~training], tail[shown & ~training], color=color, alpha=0.25, lw=0.8)
        linear_error = arrays[f"{activation}/linearization_error"]
        # a log axis cannot draw the exact zeros of the linear activation
        label = activation if np.any(linear_error > 0) else f"{activation} (exactly 0, not drawn)"
        linear_ax.plot(steps[shown], linear_error[shown], color=color, label=label)
        loss_steps = np.arange(1, loss.size)
        loss_ax.plot(loss_steps, loss[1:], color=color, label=activation)

    tail_ax.set(xscale="log", yscale="log", xlabel="step (log scale)",
                ylabel=r"$\sigma_{K+1}(G_1) / \sigma_1(G_1)$ (log scale)",
                title=f"gradient tail (faint: loss below {LOSS_FLOOR:g})")
    linear_ax.set(xscale="log", yscale="log", xlabel="step (log scale)",
                  ylabel="relative linearization error (log scale)",
                  title="||W2 phi(W1 X) - phi'(0) W2 W1 X|| / ||W2 phi(W1 X)||")
    loss_ax.axhline(LOSS_FLOOR, color="black", ls="--", lw=0.8, label=f"floor {LOSS_FLOOR:g}")
    loss_ax.set(xscale="log", yscale="log", xlabel="step (log scale)",
                ylabel="training loss, summed (log scale)", title="loss")
    for ax in (tail_ax, linear_ax, loss_ax):
        ax.legend(fontsize=8)
    fig.suptitle(f"Gradient rank and linearization: d={config['dim']}, m={config['width']}, "
                 f"K={config['classes']}, eps={config['eps']:g}, eta={config['eta']:g}, "
                 f"{config['steps']} steps, seed {config['seed']} (ReLU slope {config['relu_slope']:g})")
    fig.tight_layout()
    path = out / "gradient_rank.png"
    save_figure(fig, path)
    return path


def main(argv=None):
    parser = make_parser(__doc__.splitlines()[0], "gradient_rank")
    add_problem_flags(parser, STEPS)
    parser.add_argument("--eps", type=float, default=EPS, help="initialization scale of W1(0) = eps Q")
    parser.add_argument("--record-every", type=int, default=RECORD_EVERY,
                        help="measure every this many steps")
    parser.add_argument("--relu-slope", type=float, default=RELU_SLOPE,
                        help="phi'(0) used in ReLU's linearization")
    args = parser.parse_args(argv)
    steps = steps_from_args(args)
    out = prepare_output(args.out)

    X, Y, W1_init, W2 = make_problem(args.dim, args.width, args.classes, args.eps, args.seed)
    results, arrays = {}, {}
    for activation in args.activations:
        summary, per_step = run_activation(activation, X, Y, W1_init, W2, args.eta, steps,
                                           args.record_every, args.relu_slope)
        results[activation] = summary
        arrays.update({f"{activation}/{key}": value for key, value in per_step.items()})

    config = {"dim": args.dim, "width": args.width, "classes": args.classes, "samples": args.dim,
              "eps": args.eps, "eta": args.eta, "steps": steps, "record_every": args.record_every,
              "relu_slope": args.relu_slope, "loss_floor": LOSS_FLOOR, "seed": args.seed,
              "quick": args.quick}
    metrics = {"config": config, "activations": results}
    write_json(out / "metrics.json", metrics)
    save_npz(out / "arrays.npz", **arrays)
    figure = plot(out)

    rows = [{"activation": name, "final loss": r["final_loss"],
             "tail G1(0)": r["gradient_tail_ratio_init"], "max tail": r["max_gradient_tail_ratio"],
             "max lin. error": r["max_linearization_error"],
             "final lin. error": r["final_linearization_error"]}
            for name, r in results.items()]
    print(f"sigma_K+1/sigma_1 of G1 ('tail', max over steps with loss > {LOSS_FLOOR:g}) and relative "
          f"linearization error (d={args.dim}, m={args.width}, K={args.classes}, eps={args.eps:g}, "
          f"eta={args.eta:g}, {steps} steps, seed {args.seed}):")
    print(format_table(rows, list(rows[0]) if rows else ["activation"]))
    print(f"Wrote {out / 'metrics.json'}, {out / 'arrays.npz'} and {figure}")
    return metrics


if __name__ == "__main__":
    run_cli(main)
