"""The benchmark scripts run end to end, and the shortcuts they measure agree with the plain formulas.

Timings are never asserted: they depend on the machine and its load.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gd import GradientDescent
from mlp import ACTIVATIONS

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_script(name, *flags):
    command = [sys.executable, str(REPO_ROOT / "benchmarks" / name), *flags]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_bench_step_quick_run_writes_json(tmp_path):
    finished = run_script("bench_step.py", "--quick", "--sizes", "theory", "--repeats", "1",
                          "--block-seconds", "0.001", "--no-torch", "--out", str(tmp_path))
    assert finished.returncode == 0, finished.stderr
    assert "PyTorch skipped" in finished.stdout

    report = json.loads((tmp_path / "bench_step.json").read_text())
    configs = {(r["dtype"], r["depth"]) for r in report["results"]}
    assert configs == {("float32", 2), ("float32", 4), ("float64", 2), ("float64", 4)}
    for record in report["results"]:
        assert record["widths"][0] == 30
        assert set(record["seconds"]) == {"numpy", "floor"}
        assert record["seconds"]["numpy"]["median"] > 0
        assert record["numpy_over_floor"] > 0
        assert "numpy_over_torch" not in record
    assert report["machine"]["threads"] >= 1
    assert (tmp_path / "bench_step.md").exists()


def test_bench_subspace_tiny_run_writes_json(tmp_path):
    finished = run_script("bench_subspace.py", "--sizes", "48", "--K", "3", "--repeats", "1",
                          "--out", str(tmp_path))
    assert finished.returncode == 0, finished.stderr

    report = json.loads((tmp_path / "bench_subspace.json").read_text())
    (record,) = report["results"]
    assert record["m"] == 48
    assert set(record["seconds"]) == {"closed_form", "svd_based", "gradient"}
    assert record["input_side_largest_angle_sine"] < 1e-6  # both return the same subspace


def test_bench_lowrank_tiny_run_writes_json(tmp_path):
    finished = run_script("bench_lowrank.py", "--widths", "120,100,100,10", "--batch", "64", "--ranks", "20",
                          "--repeats", "1", "--block-seconds", "0.001", "--out", str(tmp_path))
    assert finished.returncode == 0, finished.stderr

    report = json.loads((tmp_path / "bench_lowrank.json").read_text())
    models = [row["model"] for row in report["results"]]
    assert models == ["full (mlp)", "full (lowrank)", "rank 20"]
    assert report["results"][2]["parameters"] < report["results"][1]["parameters"]
    assert report["results"][2]["flop_ratio"] > 1


@pytest.mark.parametrize("name", [n for n, phi in ACTIVATIONS.items() if phi.df_from_output is not None])
def test_df_from_output_matches_df(name):
    phi = ACTIVATIONS[name]
    for dtype in (np.float32, np.float64):
        z = np.linspace(-5, 5, 201, dtype=dtype)
        from_output = phi.df_from_output(phi.f(z))
        assert from_output.dtype == dtype
        np.testing.assert_allclose(from_output, phi.df(z), rtol=0, atol=4 * np.finfo(dtype).eps)


def test_blocked_update_matches_plain_update():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        W = rng.standard_normal((300, 700)).astype(dtype)  # more than one block of rows
        G = rng.standard_normal((300, 700)).astype(dtype)
        expected = W - 0.01 * G
        GradientDescent(0.01).step([W], [G])
        assert W.dtype == dtype
        np.testing.assert_array_equal(W, expected)
