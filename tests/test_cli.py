"""The command line: the demo and exit codes."""

from __future__ import annotations

import subprocess
import sys

import conv1d.cli


def test_demo_replays_both_sessions(capsys):
    assert conv1d.cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Axis 2 has 256" in out and "x.transpose(0, 2, 1)" in out
    assert "(32, 100, 34)" in out and "(32, 34, 100)" in out
    assert "((3, 2, 5), (3,))" in out and "(4, 3, 2)" in out
    assert out.count("(equal)") == 2 and "DIFFERENT" not in out
    assert max(len(line) for line in out.splitlines()) <= 90


def test_python_dash_m_runs_the_demo():
    result = subprocess.run([sys.executable, "-m", "conv1d", "demo"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "(32, 100, 34)" in result.stdout


def test_bad_or_missing_command_exits_2(capsys):
    assert conv1d.cli.main([]) == 2
    try:
        conv1d.cli.main(["frobnicate"])
    except SystemExit as exit:
        assert exit.code == 2
    else:
        raise AssertionError("argparse accepted an unknown command")
