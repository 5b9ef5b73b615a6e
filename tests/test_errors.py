"""lab.errors: LabError and Preempted as the CLI shows them, one stderr line and exit 2 or 143; bugs not hidden."""

from __future__ import annotations

import pytest

import lab
from lab import cli, launch
from lab.config import SpecError
from lab.errors import LabError, Preempted

TINY = ('[task]\np = 11\ntrain_frac = 0.5\n[model]\nkind = "mlp"\nd_embed = 8\nwidth = 16\n'
        "[train]\nsteps = 20\nlog_every = 10\n")


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_hierarchy_lab_error_covers_preempted_and_spec_error():
    assert issubclass(Preempted, LabError) and issubclass(SpecError, LabError)
    assert lab.LabError is LabError  # the public name is this class
    assert not issubclass(LabError, ValueError)  # only SpecError is also a ValueError
    with pytest.raises(LabError, match="saved"):
        raise Preempted("stopped on SIGTERM: saved")


@pytest.mark.parametrize(
    "argv,message",
    [
        (lambda d: ["sweep", str(d / "missing.toml")], "no spec file at {d}/missing.toml; specs live in sweeps/"),
        (lambda d: ["sweep", str(d / "bad.toml")], "{d}/bad.toml is not valid TOML: "),
        (lambda d: ["sweep", str(d / "tiny.toml"), "--set", "train.lr=-1"], "train.lr must be positive (got -1.0)"),
        (lambda d: ["sweep", str(d / "tiny.toml"), "--set", "train.lr"], "--set 'train.lr' must look like key=value"),
        (lambda d: ["sweep", str(d / "tiny.toml"), "--cpu-devices", "-1"], "--cpu-devices must be at least 1 (got -1)"),
        (lambda d: ["sweep", str(d / "tiny.toml"), "--cpu-devices", "0"], "--cpu-devices must be at least 1 (got 0)"),
        (lambda d: ["report", str(d)], "{d} holds no lab run (no run.json); give the folder `lab sweep` wrote to"),
        (lambda d: ["report", str(d / "tiny.toml")], "{d}/tiny.toml is a file, not a run folder; give the folder "
                                                     "`lab sweep` wrote to"),
    ],
    ids=["missing-spec", "bad-toml", "bad-value", "bad-set", "cpu-devices", "cpu-devices-zero", "report-not-a-run", "report-a-file"],
)
def test_a_user_error_is_one_line_after_lab_error_and_exits_2(argv, message, tmp_path, capsys):
    (tmp_path / "bad.toml").write_text("[train\nlr = 1\n")
    (tmp_path / "tiny.toml").write_text(TINY)
    code, out, err = _run(argv(tmp_path), capsys)
    assert code == 2 and out == ""
    assert err.endswith("\n") and err.count("\n") == 1
    assert err.startswith("lab: error: " + message.format(d=tmp_path))


def test_a_preempted_sweep_says_so_without_error_and_exits_143(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    said = "stopped on SIGTERM: group 1 saved at step 10 of 20; run the same command to resume"

    def preempted(*args, **kwargs):
        raise Preempted(said)

    monkeypatch.setattr(launch, "run_sweep", preempted)  # as the runner raises it after a SIGTERM
    monkeypatch.setattr(cli, "_compilation_cache", lambda: None)
    code, out, err = _run(["sweep", str(spec), "--out", str(tmp_path / "run"), "--quiet"], capsys)
    assert code == 143  # 128 + SIGTERM, as a scheduler expects of a job it stopped
    assert err == f"lab: {said}\n"
    assert "1 models in 1 group(s)" in out and "results:" not in out


def test_a_lab_error_from_any_command_is_printed_as_its_message(monkeypatch, capsys):
    def failing(args):
        raise LabError("step 7 was not saved for group 0; saved steps: [0, 10]")

    monkeypatch.setattr(cli, "cmd_report", failing)
    assert _run(["report", "anywhere"], capsys) == (
        2, "", "lab: error: step 7 was not saved for group 0; saved steps: [0, 10]\n")


def test_an_error_that_is_not_a_lab_error_is_not_hidden(monkeypatch):
    def buggy(args):
        raise KeyError("W_in")

    monkeypatch.setattr(cli, "cmd_report", buggy)
    with pytest.raises(KeyError, match="W_in"):
        cli.main(["report", "anywhere"])
