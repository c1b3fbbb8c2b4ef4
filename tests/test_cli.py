from course_lib.tools import cli, doctor


def test_doctor_reports_every_component(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in ("torch", "eSpeak NG", "ffmpeg", "c2pa"):
        assert f"ok    {name}" in out
    assert "everything the course needs is here" in out


def test_doctor_fails_with_a_fix_hint(monkeypatch):
    def broken():
        raise ImportError("No module named 'c2pa'")
    monkeypatch.setattr(doctor, "CHECKS", [("c2pa", broken, "pip install c2pa-python")])
    lines = []
    assert doctor.run_doctor(lines.append) == 1
    assert "FAIL  c2pa" in lines[0] and "fix: pip install c2pa-python" in lines[0]


def test_build_check_passes_on_the_committed_tree(capsys):
    assert cli.main(["build", "--check"]) == 0, capsys.readouterr().out


def test_check_rejects_a_bad_timeout(capsys):
    assert cli.main(["check", "day00", "--timeout", "0"]) == 2
    assert "--timeout must be positive" in capsys.readouterr().err


def test_lab_command_adds_allow_root_only_for_root(monkeypatch, capsys):
    from pathlib import Path
    plain = cli.lab_command(Path("/course"), as_root=False)
    assert plain[1:] == ["-m", "jupyterlab", "--notebook-dir=/course"]
    assert cli.lab_command(Path("/course"), as_root=True) == [*plain, "--allow-root"]

    import os
    import subprocess
    calls = []
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(subprocess, "call", lambda command: calls.append(command) or 0)
    assert cli.main(["lab"]) == 0
    assert calls[0][-1] == "--allow-root"
    assert "running as root" in capsys.readouterr().err
    # options course does not know go to JupyterLab, after the course's own
    assert cli.main(["lab", "--no-browser", "--port=8890"]) == 0
    assert calls[1][-3:] == ["--allow-root", "--no-browser", "--port=8890"]
    assert cli.main(["lab", "--notebook-dir=/elsewhere"]) == 0          # one root dir: the learner's
    assert [a for a in calls[2] if a.startswith("--notebook-dir")] == ["--notebook-dir=/elsewhere"]


def test_unknown_options_are_refused_outside_lab():
    import pytest
    with pytest.raises(SystemExit):
        cli.main(["doctor", "--no-browser"])


def test_run_executes_a_lesson_into_another_file(tmp_path, capsys):
    import hashlib

    import nbformat

    from course_lib.runtime import project_root
    committed = project_root() / "notebooks" / "day00_setup.ipynb"
    before = hashlib.sha256(committed.read_bytes()).hexdigest()
    out = tmp_path / "day00.ipynb"
    assert cli.main(["run", "0", "--out", str(out)]) == 0
    nb = nbformat.read(out, as_version=4)
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert hashlib.sha256(committed.read_bytes()).hexdigest() == before, "the committed notebook is untouched"
    assert cli.main(["run", "42"]) == 2
    assert "no notebook for day '42'" in capsys.readouterr().err
