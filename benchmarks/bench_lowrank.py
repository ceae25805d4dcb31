"""Time a training step of the low-rank MLP against the full one, next to their FLOP ratio.

Network: the Fashion-MNIST MLP 784 -> 1024 -> 1024 -> 10 (two hidden
layers) with tanh, a mini-batch of 1024 random inputs with one-hot labels, the
softmax cross-entropy and plain gradient descent. Rows:

- full (mlp): ``mlp.loss_and_gradients`` and ``gd.GradientDescent`` on the
  weight matrices, the path of ``gd.train``;
- full (lowrank): ``lowrank.full_mlp``, the same network through the layer
  classes that the low-rank model uses, the reference for the speed-ups;
- rank r: ``lowrank.lowrank_mlp`` with the "subspace" initialization. Both
  hidden layers are factored as U S V^T and the 1024 -> 10 output layer
  stays dense, as ``lowrank.default_factored_layers`` chooses.

FLOPs are the matrix-multiply FLOPs of one forward and backward pass
(``LowRankMLP.flops_per_sample``). The elementwise work (the activation on
every hidden unit, the loss, the update) does not shrink with r, so the
speed-up stays below the FLOP ratio. The target is a speed-up of at least
half the FLOP ratio.

Example:  python benchmarks/bench_lowrank.py --quick
"""

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # so that mlp, gd and lowrank import when this runs as a script

from benchmarks.timing import describe_machine, set_thread_count, time_candidates, write_json  # noqa: E402

K = 10  # classes, the output width


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 repeats of 0.05 s blocks")
    parser.add_argument("--widths", default="784,1024,1024,10",
                        help=f"comma-separated layer widths; the last must be K = {K}")
    parser.add_argument("--batch", type=int, default=1024, help="samples per step")
    parser.add_argument("--ranks", default=f"{2 * K},{4 * K},{8 * K}", help="comma-separated ranks r")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, help="timed blocks per model (default: 15, --quick: 3)")
    parser.add_argument("--block-seconds", type=float,
                        help="approximate length of one timed block, in seconds "
                             "(default: 0.2, --quick: 0.05)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for NumPy's BLAS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "benchmarks",
                        help="folder for bench_lowrank.json and bench_lowrank.md")
    args = parser.parse_args(argv)
    args.widths = [int(w) for w in args.widths.split(",")]
    args.ranks = [int(r) for r in args.ranks.split(",")]
    if args.repeats is None:
        args.repeats = 3 if args.quick else 15
    if args.block_seconds is None:
        args.block_seconds = 0.05 if args.quick else 0.2
    if args.widths[-1] != K or len(args.widths) < 3:
        parser.error(f"--widths needs at least one hidden layer and {K} outputs, got {args.widths}")
    if args.repeats < 1 or args.threads < 1 or args.batch < 1:
        parser.error("repeats, threads and batch must be >= 1")
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    set_thread_count(ARGS.threads)  # before numpy loads

import numpy as np  # noqa: E402

import gd  # noqa: E402
import mlp  # noqa: E402
from lowrank import full_mlp, lowrank_mlp  # noqa: E402

ACTIVATION = "tanh"
LOSS = "cross_entropy"
ETA = 1e-3


def make_problem(widths, batch, dtype, seed):
    """Return W(0) (orthogonal, as the subspace initialization needs), X and one-hot Y."""
    rng = np.random.default_rng(seed)
    weights = mlp.init_weights(widths, "orthogonal", scale=1.0, rng=rng, dtype=dtype)
    X = rng.standard_normal((widths[0], batch)).astype(dtype)
    Y = np.eye(K, dtype=dtype)[:, rng.integers(0, K, batch)]
    return weights, X, Y


def model_step(model, X, Y):
    optimizer = gd.GradientDescent(ETA, layer_scales=model.learning_rate_scales())

    def step():
        _, grads = model.loss_and_gradients(X, Y, LOSS, check_inputs=False)
        optimizer.step(model.params, grads)

    return step


def mlp_step(weights, X, Y):
    optimizer = gd.GradientDescent(ETA)

    def step():
        _, grads = mlp.loss_and_gradients(weights, X, Y, ACTIVATION, LOSS, check_inputs=False)
        optimizer.step(weights, grads)

    return step


def run(args):
    weights, X, Y = make_problem(args.widths, args.batch, np.dtype(args.dtype), args.seed)
    models = {"full (lowrank)": full_mlp(weights, ACTIVATION)}
    for r in args.ranks:
        models[f"rank {r}"] = lowrank_mlp(weights, ACTIVATION, init="subspace", rank=r, X=X, Y=Y, loss=LOSS)
    candidates = {"full (mlp)": mlp_step([W.copy() for W in weights], X, Y)}
    candidates.update({name: model_step(model, X, Y) for name, model in models.items()})
    seconds = time_candidates(candidates, args.repeats, args.block_seconds)

    reference = models["full (lowrank)"]
    full_flops = sum(reference.flops_per_sample().values())
    full_params = sum(P.size for P in reference.params)
    full_median = seconds["full (lowrank)"]["median"]
    rows = [{"model": "full (mlp)", "seconds": seconds["full (mlp)"],
             "parameters": sum(W.size for W in weights), "flops_per_sample": full_flops}]
    for name, model in models.items():
        flops = sum(model.flops_per_sample().values())
        parameters = sum(P.size for P in model.params)
        row = {"model": name, "seconds": seconds[name], "parameters": parameters,
               "flops_per_sample": flops, "flop_ratio": full_flops / flops,
               "parameter_ratio": full_params / parameters,
               "speedup": full_median / seconds[name]["median"]}
        if name != "full (lowrank)":
            row["meets_target"] = row["speedup"] >= 0.5 * row["flop_ratio"]
        rows.append(row)
    return rows


def format_table(rows):
    header = ["model", "ms per step [IQR]", "parameters", "parameter ratio", "FLOPs/sample", "FLOP ratio",
              "speed-up", "speed-up >= FLOP ratio / 2"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        s = row["seconds"]
        has_ratios = "flop_ratio" in row  # every row but full (mlp)
        cells = [row["model"], f"{1e3 * s['median']:.3g} [{1e3 * s['q25']:.3g}, {1e3 * s['q75']:.3g}]",
                 f"{row['parameters']:,}", f"{row['parameter_ratio']:.1f}" if has_ratios else "",
                 f"{row['flops_per_sample']:,}", f"{row['flop_ratio']:.1f}" if has_ratios else "",
                 f"{row['speedup']:.2f}" if has_ratios else ""]
        if "meets_target" in row:
            cells.append("yes" if row["meets_target"] else "no")
        else:
            cells.append("")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(args):
    machine = describe_machine(None, args.threads)
    print(f"{machine['cpu']}, {machine['cores']} cores, load average {machine['load_average_start']}; "
          f"threads: {args.threads}")
    rows = run(args)
    machine["load_average_end"] = os.getloadavg()

    command = ("python benchmarks/bench_lowrank.py " + " ".join(sys.argv[1:])).strip()
    widths = "-".join(map(str, args.widths))
    report = (f"Command: `{command}`\n\nWidths {widths}, batch {args.batch}, {args.dtype}, {ACTIVATION}, "
              f"{LOSS}. Median ms per step [25th, 75th percentile] over {args.repeats} blocks; "
              "speed-up and FLOP ratio are relative to full (lowrank).\n\n" + format_table(rows) + "\n")
    print("\n" + report)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    write_json(args.out / "bench_lowrank.json",
               {"command": command, "settings": settings, "machine": machine, "results": rows})
    (args.out / "bench_lowrank.md").write_text(report)
    print(f"wrote {args.out / 'bench_lowrank.json'} and {args.out / 'bench_lowrank.md'}")


if __name__ == "__main__":
    main(ARGS)
