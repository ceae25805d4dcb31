"""The main job: every claim's section, figure and metrics, failures and interruptions."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments import reproduce
from experiments.claims import CLAIMS, Claim
from experiments.common import read_json

SCRIPT = Path(reproduce.__file__)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    status = reproduce.main(["--quick", "--out", str(out)])
    return out, status


def test_quick_run_succeeds(quick_run):
    _, status = quick_run
    assert status == 0


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.folder for c in CLAIMS])
def test_quick_run_writes_every_claim(quick_run, claim):
    out, _ = quick_run
    report = (out / "REPORT.md").read_text()
    assert f"## {claim.title}" in report
    for figure in claim.figures:
        assert (out / claim.folder / figure).stat().st_size > 1000
        assert f"({claim.folder}/{figure})" in report
    read_json(out / claim.folder / "metrics.json")
    section = report.split(f"## {claim.title}")[1].split("\n## ")[0]
    assert "**Verdict: holds" in section or "**Verdict: does not hold" in section
    assert "FAILED" not in section


def test_report_ends_with_machine_and_time(quick_run):
    out, _ = quick_run
    report = (out / "REPORT.md").read_text()
    assert "## Machine" in report
    assert "Total time:" in report
    assert "incomplete" not in report
    assert not list(out.glob(".*"))  # no staging folders or temporary files left


def test_failed_script_is_reported_and_others_run(tmp_path, monkeypatch):
    broken = Claim(script="no_such_script", title="Broken", claim="c", prediction="p",
                   figures=(), summarize=lambda metrics: ("", "holds"))
    monkeypatch.setattr(reproduce, "CLAIMS", [broken, CLAIMS[0]])
    status = reproduce.main(["--quick", "--out", str(tmp_path)])
    report = (tmp_path / "REPORT.md").read_text()
    assert status == 1
    assert "Failed scripts: no_such_script" in report
    assert "**Status: FAILED.**" in report
    assert (tmp_path / CLAIMS[0].folder / "metrics.json").exists()


def test_unknown_only_name_is_rejected(tmp_path):
    with pytest.raises(SystemExit):
        reproduce.main(["--only", "nope", "--out", str(tmp_path)])


def test_only_accepts_output_folder_names(tmp_path):
    status = reproduce.main(["--quick", "--only", "beyond_theory/synthetic", "--out", str(tmp_path)])
    assert status == 0
    report = (tmp_path / "REPORT.md").read_text()
    assert report.count("\n## ") == 2  # one claim and the machine section
    assert "**Quick mode:**" in report
    assert f"--data synthetic --seed 0 --out {tmp_path / 'beyond_theory' / 'synthetic'} --quick" in report


def test_interrupted_run_recovers_on_rerun(tmp_path):
    names = ",".join(c.script for c in CLAIMS[:2])
    command = [sys.executable, str(SCRIPT), "--quick", "--only", names, "--out", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    for line in process.stdout:  # kill while the second script runs
        if line.startswith("[2/"):
            time.sleep(0.5)
            break
    os.killpg(process.pid, signal.SIGKILL)  # the script and its child, as a terminal's kill would
    process.wait()
    first = tmp_path / CLAIMS[0].folder / "metrics.json"
    assert first.exists()
    assert not (tmp_path / CLAIMS[1].folder).exists()  # the unfinished script left no final folder
    assert "incomplete" in (tmp_path / "REPORT.md").read_text()

    assert subprocess.run(command, capture_output=True).returncode == 0
    report = (tmp_path / "REPORT.md").read_text()
    assert "incomplete" not in report
    for claim in CLAIMS[:2]:
        assert (tmp_path / claim.folder / "metrics.json").exists()
        assert "**Verdict:" in report.split(f"## {claim.title}")[1].split("\n## ")[0]
    assert not list(tmp_path.glob(".*"))
