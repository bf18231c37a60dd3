"""The command line: the demo and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

import conv1d
import conv1d.cli


def test_demo_replays_both_tutorials(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the demo writes its picture into the current directory
    assert conv1d.cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    picture = tmp_path / "conv1d-demo.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "the demo must write a PNG picture"
    assert str(picture) in out, "the demo must say where the picture is"
    assert "Axis 2 has 256" in out and "x.transpose(0, 2, 1)" in out
    assert "(32, 100, 34)" in out and "(32, 34, 100)" in out
    assert "((3, 2, 5), (3,))" in out and "(4, 3, 2)" in out
    assert out.count("(equal)") == 2 and "DIFFERENT" not in out
    assert max(len(line) for line in out.splitlines() if str(picture) not in line) <= 80


def test_python_dash_m_runs_the_demo(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "conv1d", "demo"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
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


# --------------------------------------------------------------------------- conv1d explain

TEXT_CNN = [
    "explain",
    "--in-channels",
    "256",
    "--out-channels",
    "100",
    "--kernel-size",
    "2",
    "--input-shape",
    "32,35,256",
]
SMALL = [
    "explain",
    "--in-channels",
    "2",
    "--out-channels",
    "3",
    "--kernel-size",
    "5",
    "--input-shape",
    "4,2,6",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_cli(capsys, argv):
    """``conv1d.cli.main(argv)``: (exit code, stdout, stderr)."""
    code = conv1d.cli.main(argv)
    captured = capsys.readouterr()
    assert code in (0, 2), f"{argv}: exit code {code!r}, documented are 0 and 2"
    return code, captured.out, captured.err


def assert_fits(text, what, width=80):
    long = [line for line in text.splitlines() if len(line) > width]
    assert not long, f"{what}: lines over {width} columns: {long}"


def test_explain_prints_the_explanation(capsys):
    code, out, err = run_cli(capsys, TEXT_CNN)
    assert code == 0 and err == "", f"exit {code}, stderr {err!r}"
    for expected in [
        "x.transpose(0, 2, 1)",
        'layout="NLC"',
        "= 34",
        "output (32, 100, 34)",
        "weight (100, 256, 2)",
        "equal)",
    ]:
        assert expected in out, f"{expected!r} not in\n{out}"
    assert "DIFFERENT" not in out, out
    assert_fits(out, "conv1d explain")
    e = conv1d.explain(in_channels=256, out_channels=100, kernel_size=2, input_shape=(32, 35, 256), seed=0)
    assert out == str(e), "the CLI prints str(explain(...)) with the same arguments"


def test_explain_options_reach_the_layer(capsys):
    argv = [
        "explain",
        "--in-channels",
        "4",
        "--out-channels",
        "6",
        "--kernel-size",
        "3",
        "--stride",
        "2",
        "--dilation",
        "2",
        "--padding",
        "same",
        "--groups",
        "2",
        "--no-bias",
        "--padding-mode",
        "reflect",
        "--layout",
        "NLC",
        "--input-shape",
        "3,20,4",
        "--element",
        "2,5,9",
        "--seed",
        "7",
        "--json",
    ]
    code, out, err = run_cli(capsys, argv)
    assert code == 0 and err == "", f"exit {code}, stderr {err!r}"
    data = json.loads(out)
    layer = conv1d.Conv1d(
        4,
        6,
        3,
        stride=2,
        dilation=2,
        padding="same",
        groups=2,
        bias=False,
        padding_mode="reflect",
        layout="NLC",
        rng=7,
    )
    e = conv1d.explain(layer, (3, 20, 4), element=(2, 5, 9), seed=7)
    assert data == e.to_dict(), f"CLI JSON differs from explain(...):\n{out}"
    assert data["layer"] == repr(layer) and data["output_shape"] == [3, 10, 6], f"{data['layer']}"
    assert data["trace"]["element"] == [2, 5, 9] and data["trace"]["matches"] is True, f"{data['trace']}"


def test_explain_transposed(capsys):
    argv = [
        "explain",
        "--in-channels",
        "4",
        "--out-channels",
        "2",
        "--kernel-size",
        "4",
        "--stride",
        "2",
        "--padding",
        "1",
        "--output-padding",
        "1",
        "--transposed",
        "--input-shape",
        "1,4,10",
        "--json",
    ]
    code, out, err = run_cli(capsys, argv)
    assert code == 0 and err == "", f"exit {code}, stderr {err!r}"
    data = json.loads(out)
    assert data["transposed"] is True and data["output_shape"] == [1, 2, 21], f"{data['output_shape']}"
    assert data["output_length"]["numbers"].endswith("= 21") and data["weight_shape"] == [4, 2, 4], f"{data}"


def test_explain_json_is_valid_json(capsys):
    code, out, err = run_cli(capsys, TEXT_CNN + ["--json"])
    assert code == 0 and err == "", f"exit {code}, stderr {err!r}"
    data = json.loads(out)
    for key in ["output_length", "output_shape", "weight_shape", "trace", "algorithm", "reading"]:
        assert key in data, f"{key!r} missing from {sorted(data)}"
    assert data["output_length"]["value"] == 34 and data["output_shape"] == [32, 100, 34], f"{data}"
    assert "x.transpose(0, 2, 1)" in data["reading"]["fix"], f"{data['reading']}"


def test_explain_plot_writes_a_png_and_says_where(capsys, tmp_path):
    path = tmp_path / "window.png"
    code, out, err = run_cli(capsys, SMALL + ["--element", "0,0,1", "--plot", str(path)])
    assert code == 0 and err == "", f"exit {code}, stderr {err!r}"
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 5000, f"{path}: {len(data)} bytes, starts {data[:8]!r}"
    assert str(path) in out and "equal)" in out, out


def test_explain_plot_with_json_names_the_picture(capsys, tmp_path):
    path = tmp_path / "window.svg"
    code, out, err = run_cli(capsys, SMALL + ["--plot", str(path), "--json"])
    assert code == 0 and err == "", f"exit {code}, stderr {err!r}"
    assert json.loads(out)["plot"] == str(path), out
    assert "<svg" in path.read_text(), f"{path} is not an SVG"


def test_explain_dilations_prints_the_stack(capsys):
    argv = [
        "explain",
        "--in-channels",
        "64",
        "--out-channels",
        "32",
        "--kernel-size",
        "2",
        "--padding",
        "causal",
        "--dilations",
        "1,2,4",
        "--input-shape",
        "1,64,100",
    ]
    code, out, err = run_cli(capsys, argv)
    assert code == 0 and err == "", f"exit {code}, stderr {err!r}"
    assert "3 layers; receptive field 8 input samples" in out, out
    assert "(1, 64, 100) -> (1, 32, 100)" in out and "(1, 32, 100) -> (1, 32, 100)" in out, out
    assert_fits(out, "conv1d explain --dilations")
    code, out, err = run_cli(capsys, argv + ["--json"])
    data = json.loads(out)
    assert code == 0 and data["receptive_field"] == 8, f"{data}"
    assert [s["receptive_field"] for s in data["steps"]] == [2, 4, 8], f"{data['steps']}"


@pytest.mark.parametrize(
    "argv",
    [
        [
            "explain",
            "--in-channels",
            "2",
            "--out-channels",
            "3",
            "--kernel-size",
            "x",
            "--input-shape",
            "1,2,10",
        ],
        ["explain", "--in-channels", "2", "--out-channels", "3", "--kernel-size", "3"],
        ["explain", "--in-channels", "2", "--out-channels", "3", "--input-shape", "1,2,10"],
        [
            "explain",
            "--in-channels",
            "2",
            "--out-channels",
            "3",
            "--kernel-size",
            "3",
            "--input-shape",
            "1,a,10",
        ],
        ["explain", "--in-channels", "2", "--out-channels", "3", "--kernel-size", "3", "--input-shape", ","],
        [
            "explain",
            "--in-channels",
            "2",
            "--out-channels",
            "3",
            "--kernel-size",
            "3",
            "--input-shape",
            "1,2,10",
            "--padding",
            "1,2,3",
        ],
        [
            "explain",
            "--in-channels",
            "2",
            "--out-channels",
            "3",
            "--kernel-size",
            "3",
            "--input-shape",
            "1,2,10",
            "--frobnicate",
        ],
    ],
)
def test_explain_argparse_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exit:
        conv1d.cli.main(argv)
    err = capsys.readouterr().err
    assert exit.value.code == 2, f"{argv}: exit {exit.value.code}"
    assert "usage: conv1d" in err and "error:" in err, f"{argv}: stderr {err!r}"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--kernel-size", "12", "--input-shape", "1,2,6"], "padding"),  # kernel longer than the input
        (["--kernel-size", "3", "--groups", "2", "--in-channels", "3"], "groups"),
        (["--kernel-size", "3", "--element", "0,4,0"], "element"),
        (["--kernel-size", "3", "--element", "0,0,8"], "element"),
        (["--kernel-size", "3", "--element", "1,0,0"], "element"),
        (["--kernel-size", "3", "--output-padding", "1"], "--transposed"),
        (["--kernel-size", "3", "--padding-mode", "reflec"], "padding_mode"),
        (["--kernel-size", "3", "--layout", "NCW"], "layout"),
        (["--kernel-size", "3", "--input-shape", "1,5,10"], "channels"),
        (["--kernel-size", "3", "--input-shape", "10"], "3-D"),
        (["--kernel-size", "3", "--transposed", "--padding", "same"], "padding"),
        (["--kernel-size", "3", "--padding-mode", "reflect", "--padding", "20"], "reflect"),
    ],
)
def test_explain_layer_errors_return_2_with_a_message(capsys, extra, message):
    argv = ["explain", "--in-channels", "2", "--out-channels", "4", "--input-shape", "1,2,10"] + extra
    code, out, err = run_cli(capsys, argv)
    assert code == 2, f"{argv}: exit {code}, stdout {out!r}"
    assert out == "", f"{argv}: printed {out!r}"
    assert err.startswith("conv1d explain: error: ") and message in err, f"{argv}: stderr {err!r}"
    assert_fits(err, f"stderr of {argv}")


def test_explain_kernel_longer_than_the_input_shows_the_numbers(capsys):
    code, _, err = run_cli(capsys, SMALL[:-1] + ["1,2,3"])
    flat = " ".join(err.split())
    assert code == 2 and "5" in flat and "3" in flat and "padding" in flat, f"stderr {err!r}"


def test_explain_empty_batch_exits_cleanly(capsys):
    """An input shape with N = 0 must give exit 0 or 2, never a traceback."""
    code, out, err = run_cli(capsys, SMALL[:-1] + ["0,2,6"])
    assert code in (0, 2), f"exit {code}"
    assert (code == 0 and "(0, 3, 2)" in out) or (code == 2 and err.startswith("conv1d explain: error:")), (
        f"exit {code}, stdout {out!r}, stderr {err!r}"
    )


def test_explain_help_fits_80_columns(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as exit:
        conv1d.cli.main(["explain", "--help"])
    out = capsys.readouterr().out
    assert exit.value.code == 0, f"exit {exit.value.code}"
    for expected in ["--input-shape", "--dilations", "--plot", "--json", "exit status"]:
        assert expected in out, f"{expected!r} not in help:\n{out}"
    assert_fits(out, "conv1d explain --help")


def test_installed_console_script_runs_explain():
    script = shutil.which("conv1d", path=os.path.dirname(sys.executable)) or shutil.which("conv1d")
    assert script, "the conv1d console script is not installed next to this Python or on PATH"
    result = subprocess.run(
        [script, *TEXT_CNN[:-1], "35,256", "--element", "99,33"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{script}: exit {result.returncode}, stderr {result.stderr}"
    assert "x.transpose(1, 0)" in result.stdout and "output (100, 34)" in result.stdout, result.stdout
    assert "y[0, 99, 33]" in result.stdout and "equal)" in result.stdout, result.stdout


def test_python_dash_m_explain_errors_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "conv1d", *SMALL[:-1], "1,3,6"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, f"exit {result.returncode}, stderr {result.stderr}"
    assert result.stderr.startswith("conv1d explain: error:") and "Traceback" not in result.stderr, (
        result.stderr
    )


LAYER = ["explain", "--in-channels", "2", "--out-channels", "3", "--kernel-size", "5"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (LAYER + ["--input-shape", "1,2,10", "--plot", "{missing}/x.png"], "does not exist"),
        (LAYER + ["--input-shape", "1,2,10", "--plot", "{tmp}/x.foo"], "the suffix must name a format"),
        (
            LAYER + ["--input-shape", "1,2,10", "--plot", "{tmp}/x.foo", "--json"],
            "the suffix must name a format",
        ),
        (["demo", "--plot", "{missing}/x.png"], "does not exist"),
        (LAYER + ["--input-shape", "1,2,10", "--seed", "-1"], "the seed is a whole number >= 0"),
        (LAYER + ["--input-shape", "1,2,10000000000"], "74.5 GiB; explain a shorter input"),
        (
            [
                "explain",
                "--in-channels",
                "2",
                "--out-channels",
                "3",
                "--kernel-size",
                "3000000000",
                "--input-shape",
                "1,2,10",
            ],
            "67.1 GiB; explain a smaller layer",
        ),
    ],
    ids=[
        "plot folder",
        "plot suffix",
        "plot suffix with json",
        "demo plot folder",
        "negative seed",
        "an input of tens of GiB",
        "a kernel of tens of GiB",
    ],
)
def test_user_errors_exit_2_with_the_fix_and_no_traceback(argv, says, capsys, tmp_path):
    """These printed a traceback and exited 1 (or tried to allocate 67-447 GiB)."""
    argv = [a.format(missing=tmp_path / "no such folder", tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as exit_:
        raise SystemExit(conv1d.cli.main(argv))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and says in " ".join(err.split()), err
    assert not list(tmp_path.glob("*.foo")) and not list(tmp_path.glob("*.png"))
