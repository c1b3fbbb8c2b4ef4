"""`course gpu-run` on a machine without CUDA: it refuses, saying why; its metric reader
finds what asserts compare and reads their values from a real kernel."""

from __future__ import annotations

import json

import pytest
import torch

from course_lib.tools import cli, gpu_run


def test_gpu_run_refuses_without_cuda_and_writes_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "report.json"
    assert cli.main(["gpu-run", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "course gpu-run" in err
    assert not out.exists()


def test_gpu_run_refuses_when_the_cpu_is_forced(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    with pytest.raises(RuntimeError, match="COURSE_DEVICE=cpu"):
        gpu_run.gpu_run("unused.json")


def test_asserted_expressions_are_what_asserts_compare():
    cells = ["x = 1\nassert acc >= 0.9, 'msg'\nassert hits['own', 'a'] > hits['own', 'd']",
             "%%time\nassert magic > 1",                               # not Python: skipped
             "assert 0.1 < loss < high and ok == True\nassert acc >= 0.95\nassert -1 <= y"]
    assert gpu_run.asserted_expressions(cells) == ["acc", "hits['own', 'a']", "hits['own', 'd']", "loss", "high",
                                                   "ok", "y"]


def test_run_notebook_reports_time_errors_and_the_asserted_numbers(tmp_path):
    source = tmp_path / "day99_probe.py"
    source.write_text("# %%\nimport torch\nacc = torch.tensor(0.75)\nn = 3\nassert acc > 0.5\n\n"
                      "# %%\nassert n == 3 and len('ab') == 2\n\n# %%\nraise ValueError('boom')\n")
    row = gpu_run.run_notebook(source, timeout=120)
    assert row["notebook"] == f"{tmp_path.name}/day99_probe"
    assert row["metrics"] == {"acc": 0.75, "n": 3.0, "len('ab')": 2.0}
    assert not row["ok"] and "ValueError: boom" in row["error"] and row["error"].startswith("cell 2")
    assert row["seconds"] > 0
    json.dumps(row)                                    # the report is plain JSON
