"""The suite on a busy machine: a lesson's training cell, executed by nbval exactly as
`make test` executes lessons, passes while another process keeps a core busy."""

import subprocess
import sys
import textwrap

import nbformat
import pytest

from tests import nbval_patience


class FakeCell:
    """Stands in for nbval's IPyNbCell, whose output wait is 5 s by default."""
    output_timeout = 5


FakeCell.__name__ = "IPyNbCell"


def test_the_plugin_makes_nbval_wait_longer_for_output():
    cell = FakeCell()
    nbval_patience.pytest_collection_modifyitems([cell, object()])
    assert cell.output_timeout == nbval_patience.OUTPUT_TIMEOUT_S >= 60


def test_a_training_cell_passes_under_nbval_while_a_core_is_busy(root, tmp_path):
    """Day 04's training, shortened to 300 steps, with its progress bar, in a kernel
    started by nbval; meanwhile a second process spins on one of the two cores."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from dataclasses import replace\n"
                                  "from course_lib.diffusion.dit_train import PRESETS, train_dit"),
        nbformat.v4.new_code_cell(textwrap.dedent("""\
            recipe = PRESETS["cpu"]
            trained = train_dit(replace(recipe, train=replace(recipe.train, steps=300)))
            print(f"{len(trained.run.history)} steps, final loss {trained.run.history[-1]:.3f}")
            assert not trained.run.cached and trained.run.history[-1] < trained.run.history[0]""")),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "training.ipynb"
    nbformat.write(nb, path)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.nbval_patience",
             "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=600", str(path)],
            cwd=root, capture_output=True, text=True, timeout=900,
            env={**__import__("os").environ, "COURSE_ARTIFACTS": str(tmp_path / "artifacts")})
    finally:
        busy.kill()
        busy.wait()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
