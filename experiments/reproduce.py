"""Main job: run every experiment script and write results/REPORT.md.

Each claim of Xu et al. (arXiv:2602.06208) is checked by one script in
experiments/. This runs them one after another, each in its own Python
process, so a crash in one does not stop the others. A script writes into a
fresh temporary folder that replaces ``results/<script>/`` only when the
script succeeds, and every file is written under a temporary name and then
renamed. An interrupted run therefore leaves the previous complete outputs
in place, and rerunning regenerates everything: no step is skipped because
its output already exists.

The report has one section per claim (claim, prediction, measurement,
verdict, figure, command) and ends with the machine, library versions and
total time. The process exits with status 1 if any script failed.
"""

import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.claims import CLAIMS  # noqa: E402
from experiments.common import REPO_ROOT, RESULTS_DIR, _atomic_write, make_parser, read_json  # noqa: E402


def run_script(claim, out_dir, quick, seed, timeout):
    """Run one claim's script into ``out_dir / claim.folder``; return (ok, seconds, error_text)."""
    final = out_dir / claim.folder
    final.parent.mkdir(parents=True, exist_ok=True)
    stem = claim.folder.replace("/", "_")
    retired = out_dir / f".{stem}.old"
    if retired.exists() and not final.exists():  # a run killed in the middle of the swap below
        retired.rename(final)
    for leftover in out_dir.glob(f".{stem}.partial-*"):  # from an interrupted run
        shutil.rmtree(leftover, ignore_errors=True)
    staging = out_dir / f".{stem}.partial-{os.getpid()}"

    command = [sys.executable, str(Path(__file__).with_name(f"{claim.script}.py")),
               "--out", str(staging), "--seed", str(seed), *claim.extra_args]
    if quick:
        command.append("--quick")
    start = time.perf_counter()
    env = dict(os.environ, MPLBACKEND="Agg")
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        shutil.rmtree(staging, ignore_errors=True)
        return False, time.perf_counter() - start, f"timed out after {timeout} s"
    seconds = time.perf_counter() - start

    log_text = finished.stdout + finished.stderr
    if finished.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join(log_text.strip().splitlines()[-15:])
        return False, seconds, f"exit status {finished.returncode}:\n{tail}"
    (staging / "log.txt").write_text(log_text)
    # Swap the finished folder in: rename the old one aside, rename the new one in, delete the old.
    shutil.rmtree(retired, ignore_errors=True)
    if final.exists():
        final.rename(retired)
    staging.rename(final)
    shutil.rmtree(retired, ignore_errors=True)
    return True, seconds, ""


def command_for(claim, out_dir, quick, seed):
    """Return the shell command, run from the repository root, that regenerates one claim's outputs."""
    out = out_dir / claim.folder
    try:
        out = out.resolve().relative_to(REPO_ROOT)
    except ValueError:
        pass  # a folder outside the repository keeps its absolute path
    parts = [".venv/bin/python", f"experiments/{claim.script}.py", *claim.extra_args,
             "--seed", str(seed), "--out", str(out)]
    if quick:
        parts.append("--quick")
    return " ".join(parts)


def claim_section(claim, result, out_dir, quick, seed):
    """Return the Markdown section of one claim."""
    lines = [f"## {claim.title}", "", f"**Claim.** {claim.claim}", "",
             f"**Prediction.** {claim.prediction}", ""]
    if result is None:
        lines += ["**Status: not run** (the run stopped before this claim).", ""]
        return "\n".join(lines)
    ok, seconds, error = result
    if not ok:
        lines += ["**Status: FAILED.** The script did not finish:", "", "```", error, "```", ""]
    else:
        try:
            metrics = read_json(out_dir / claim.folder / "metrics.json")
            measured, verdict = claim.summarize(metrics)
        except (OSError, KeyError, TypeError, ValueError, IndexError) as error:
            # A missing metrics.json, or one without a key the summary reads: report it, keep going.
            measured = f"(metrics.json could not be summarized: {type(error).__name__}: {error})"
            verdict = "unknown"
        lines += [f"**Measured** ({seconds:.1f} s):", "", measured, "", f"**Verdict: {verdict}.**", ""]
        for figure in claim.figures:
            lines += [f"![{claim.title}]({claim.folder}/{figure})", ""]
    lines += ["Regenerate with:", "", "```", command_for(claim, out_dir, quick, seed), "```", ""]
    return "\n".join(lines)


def machine_section(total_seconds, quick):
    """Return the Markdown section on machine, versions and total time."""
    import matplotlib
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return "\n".join([
        "## Machine", "",
        f"- CPU: {cpu}, {os.cpu_count()} logical cores",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}, NumPy {numpy.__version__}, "
        f"Matplotlib {matplotlib.__version__}",
        f"- Mode: {'--quick (small sizes)' if quick else 'default settings'}",
        f"- Total time: {total_seconds:.1f} s",
        ""])


def write_report(path, claims, results, out_dir, quick, seed, total_seconds, finished):
    """Write REPORT.md atomically; ``results`` maps a claim's folder to its (ok, seconds, error)."""
    header = ["# Reproduction report", "",
              "Xu, Yaras, Asato, Qu, Balzano, \"Emergent Low-Rank Training Dynamics in MLPs with "
              "Smooth Activations\" (arXiv:2602.06208), reproduced by `experiments/reproduce.py`.", ""]
    if quick:
        header += ["**Quick mode:** small sizes and few steps, to check that everything runs. Verdicts "
                   "can differ from those of the default settings, which are the ones that count.", ""]
    if not finished:
        header += ["**This report is incomplete: the run is still going or was interrupted.**", ""]
    failed = [c.folder for c in claims if c.folder in results and not results[c.folder][0]]
    if failed:
        header += [f"**Failed scripts: {', '.join(failed)}.**", ""]
    body = [claim_section(c, results.get(c.folder), out_dir, quick, seed) for c in claims]
    text = "\n".join(header + body + [machine_section(total_seconds, quick)])

    def write(tmp):
        Path(tmp).write_text(text)
    _atomic_write(path, write)


def main(argv=None):
    parser = make_parser(__doc__.splitlines()[0], "")
    parser.set_defaults(out=RESULTS_DIR)
    for action in parser._actions:
        if action.dest == "out":
            action.help = "folder for REPORT.md and one subfolder per claim"
    parser.add_argument("--only", default="",
                        help="comma-separated script or output-folder names to run (default: all)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per script")
    args = parser.parse_args(argv)

    claims = CLAIMS
    if args.only:
        requested = [name.strip() for name in args.only.split(",") if name.strip()]
        names = {c.script for c in CLAIMS} | {c.folder for c in CLAIMS}
        unknown = sorted(set(requested) - names)
        if unknown:
            parser.error(f"unknown name(s) {unknown}; choose from {sorted(names)}")
        claims = [c for c in CLAIMS if c.script in requested or c.folder in requested]

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / "REPORT.md"
    results = {}
    start = time.perf_counter()
    expected = [claim.expected_seconds[1 if args.quick else 0] for claim in claims]
    for index, claim in enumerate(claims, start=1):
        elapsed = time.perf_counter() - start
        # Scale the expected time of what is left by how fast this machine was so far.
        speed = elapsed / sum(expected[:index - 1]) if index > 1 else 1.0
        left = speed * sum(expected[index - 1:])
        print(f"[{index}/{len(claims)}] {claim.folder}: {claim.title}  "
              f"(elapsed {elapsed:.0f} s, about {left:.0f} s left)", flush=True)
        results[claim.folder] = run_script(claim, out_dir, args.quick, args.seed, args.timeout)
        ok, seconds, error = results[claim.folder]
        print(f"    {'done' if ok else 'FAILED'} in {seconds:.1f} s" + ("" if ok else f": {error}"),
              flush=True)
        write_report(report, claims, results, out_dir, args.quick, args.seed,
                     time.perf_counter() - start, False)

    total = time.perf_counter() - start
    write_report(report, claims, results, out_dir, args.quick, args.seed, total, True)
    failed = [name for name, (ok, _, _) in results.items() if not ok]
    print(f"Report written to {report} ({total:.0f} s).")
    if failed:
        print(f"Failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
