"""Time the closed-form invariant subspace against the gradient-and-SVD one as m = d grows.

Setting: the two-layer theory net, X (d x N) whitened with N = d, one-hot
targets Y for K balanced classes, W1(0) = eps Q (m x d) and W2 (K x m)
semi-orthogonal. Columns, all in seconds per call:

- closed form: ``subspace.closed_form_subspace(X, Y, W1(0), W2)``, which
  needs no gradient;
- SVD-based: ``subspace.invariant_subspace(W1(0), G1(0), K)`` given the
  gradient, which takes a full SVD of the m x d matrix G1(0);
- gradient: ``mlp.loss_and_gradients`` at initialization, the price of
  G1(0) that the SVD-based route pays on top.

Both functions also call ``initialization_scale`` (singular values of W1(0))
and ``subspace_from_spans`` (a complete QR and an m x d x d product). Those
are O(d^3) too, so the closed form saves the SVD of the gradient but not all
of the d^3 work. The script checks that both input-side bases agree, and
reports the sine of the largest principal angle between them.

Example:  python benchmarks/bench_subspace.py --quick
"""

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # so that mlp and subspace import when this runs as a script

from benchmarks.timing import describe_machine, set_thread_count, time_candidates, write_json  # noqa: E402

DEFAULT_SIZES = [256, 512, 1024, 2048, 4096]
QUICK_SIZES = [256, 512, 1024]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, 2 repeats")
    parser.add_argument("--sizes", help=f"comma-separated m = d values (default: {DEFAULT_SIZES})")
    parser.add_argument("--repeats", type=int, help="timed calls per function (default: 3)")
    parser.add_argument("--K", type=int, default=10, help="number of classes (outputs)")
    parser.add_argument("--eps", type=float, default=1e-3, help="scale of W1(0) = eps Q")
    parser.add_argument("--activation", default="tanh", help="activation for the gradient G1(0)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for NumPy's BLAS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "benchmarks",
                        help="folder for bench_subspace.json and bench_subspace.md")
    args = parser.parse_args(argv)
    default_sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    args.sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else default_sizes
    if args.repeats is None:
        args.repeats = 2 if args.quick else 3
    if min(args.sizes) <= 2 * args.K or args.repeats < 1 or args.threads < 1:
        parser.error(f"every size must exceed 2K = {2 * args.K}, and repeats and threads must be >= 1")
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    set_thread_count(ARGS.threads)  # before numpy loads

import numpy as np  # noqa: E402

import mlp  # noqa: E402
from subspace import closed_form_subspace, invariant_subspace, semi_orthogonal  # noqa: E402


def make_problem(size, K, eps, seed):
    """Return X (d x d, orthogonal so X X^T = I), one-hot Y (K x d), W1(0) and W2, with m = d = size."""
    rng = np.random.default_rng(seed)
    X = semi_orthogonal(size, size, 1.0, rng)
    labels = np.arange(size) % K
    Y = np.eye(K)[:, labels]
    W1 = semi_orthogonal(size, size, eps, rng)
    W2 = semi_orthogonal(K, size, 1.0, rng)
    return X, Y, W1, W2


def largest_angle_sine(A, B):
    """Return sin of the largest principal angle between the spans of orthonormal A and B (same width)."""
    return float(np.linalg.norm(B - A @ (A.T @ B), 2))


def run_size(size, args):
    X, Y, W1, W2 = make_problem(size, args.K, args.eps, args.seed)

    def gradient():
        return mlp.loss_and_gradients([W1, W2], X, Y, args.activation)[1][0]

    G1 = gradient()
    candidates = {
        "closed_form": lambda: closed_form_subspace(X, Y, W1, W2),
        "svd_based": lambda: invariant_subspace(W1, G1, args.K),
        "gradient": gradient,
    }
    seconds = time_candidates(candidates, args.repeats, block_seconds=0.0, warm_up_each_repeat=False)
    closed, by_svd = candidates["closed_form"](), candidates["svd_based"]()
    median = {name: stats["median"] for name, stats in seconds.items()}
    return {"m": size, "d": size, "N": size, "K": args.K, "seconds": seconds,
            "svd_over_closed": median["svd_based"] / median["closed_form"],
            "svd_and_gradient_over_closed": (median["svd_based"] + median["gradient"])
            / median["closed_form"],
            "input_side_largest_angle_sine": largest_angle_sine(closed.V, by_svd.V)}


def format_table(records):
    header = ["m = d", "closed form s", "SVD-based s", "gradient s", "SVD/closed",
              "(SVD + gradient)/closed", "sin largest angle, input side"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in records:
        cells = [str(r["m"])]
        for name in ("closed_form", "svd_based", "gradient"):
            s = r["seconds"][name]
            cells.append(f"{s['median']:.3g} [{s['min']:.3g}, {s['max']:.3g}]")
        cells += [f"{r['svd_over_closed']:.2f}", f"{r['svd_and_gradient_over_closed']:.2f}",
                  f"{r['input_side_largest_angle_sine']:.1e}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(args):
    machine = describe_machine(None, args.threads)
    print(f"{machine['cpu']}, {machine['cores']} cores, load average {machine['load_average_start']}; "
          f"threads: {args.threads}")
    records = []
    for size in args.sizes:
        print(f"m = d = {size}", flush=True)
        records.append(run_size(size, args))
    machine["load_average_end"] = os.getloadavg()

    command = ("python benchmarks/bench_subspace.py " + " ".join(sys.argv[1:])).strip()
    report = (f"Command: `{command}`\n\nMedian seconds per call [min, max] over {args.repeats} calls, "
              f"K = {args.K}, eps = {args.eps:g}, float64.\n\n{format_table(records)}\n")
    print("\n" + report)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    write_json(args.out / "bench_subspace.json",
               {"command": command, "settings": settings, "machine": machine, "results": records})
    (args.out / "bench_subspace.md").write_text(report)
    print(f"wrote {args.out / 'bench_subspace.json'} and {args.out / 'bench_subspace.md'}")


if __name__ == "__main__":
    main(ARGS)
