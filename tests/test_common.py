"""Atomic writes and tables shared by the experiment scripts."""

import os
import stat

import numpy as np
import pytest

from experiments.common import format_table, read_json, save_npz, write_json


def test_write_json_round_trips_numpy_values(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"a": np.float64(1.5), "b": np.arange(3), "c": None})
    assert read_json(path) == {"a": 1.5, "b": [0, 1, 2], "c": None}


def test_atomic_write_uses_the_umask_mode(tmp_path):
    path = tmp_path / "metrics.json"
    old = os.umask(0o022)
    try:
        write_json(path, {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"x": 1})
    with pytest.raises(TypeError):
        write_json(path, {"x": object()})
    assert read_json(path) == {"x": 1}  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_save_npz_round_trips(tmp_path):
    save_npz(tmp_path / "arrays.npz", a=np.eye(2))
    with np.load(tmp_path / "arrays.npz") as data:
        np.testing.assert_array_equal(data["a"], np.eye(2))


def test_format_table_aligns_columns():
    text = format_table([{"name": "tanh", "value": 0.5}, {"name": "relu", "value": 12.0}], ["name", "value"])
    lines = text.splitlines()
    assert lines[0].split() == ["name", "value"]
    assert lines[2].split() == ["tanh", "0.5"]
    assert len({len(line.rstrip()) for line in lines[:2]}) == 1


def test_run_cli_prints_message_and_exits_2(capsys):
    from experiments.common import run_cli

    def main():
        raise ValueError("eta must be positive")

    with pytest.raises(SystemExit) as exit_info:
        run_cli(main)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == "error: eta must be positive"


def test_script_rejects_unknown_activation_before_training(capsys):
    from experiments import two_layer_subspace

    with pytest.raises(SystemExit) as exit_info:
        two_layer_subspace.main(["--activations", "swish"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'swish'" in capsys.readouterr().err


def test_help_states_each_default_once(capsys):
    from experiments import reproduce

    with pytest.raises(SystemExit):
        reproduce.main(["--help"])
    text = capsys.readouterr().out
    assert "(default: all)" in text
    assert "(default: )" not in text
    assert "folder for REPORT.md" in text
