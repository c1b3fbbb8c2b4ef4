"""The suite on a busy machine: a lesson's training cell, executed by nbval exactly as
`make test` executes lessons, passes while another process keeps a core busy."""

import subprocess
import sys
import textwrap
import time

import nbformat
import pytest

from tests import busy_machine, nbval_patience


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
    started by nbval with the course's plugins; meanwhile a second process spins on a core.

    `tests/busy_machine.py` sees the busy core and gives the kernel the free ones. Before
    it, torch's threads shared the busy core and each op waited for the slowest: on the
    2-core CI machine these 300 steps took 556 s (about 6 s idle)."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from dataclasses import replace\n"
                                  "from course_lib.diffusion.dit_train import PRESETS, train_dit"),
        nbformat.v4.new_code_cell(textwrap.dedent("""\
            recipe = PRESETS["cpu"]
            trained = train_dit(replace(recipe, train=replace(recipe.train, steps=300)))
            import torch
            print(f"{len(trained.run.history)} steps, final loss {trained.run.history[-1]:.3f}, "
                  f"{torch.get_num_threads()} thread(s)")
            assert torch.get_num_threads() <= max(1, __import__("os").cpu_count() - 1)
            assert not trained.run.cached and trained.run.history[-1] < trained.run.history[0]""")),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "training.ipynb"
    nbformat.write(nb, path)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "-p", "tests.nbval_patience", "-p", "tests.busy_machine",
             "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=300", str(path)],
            cwd=root, capture_output=True, text=True, timeout=900,
            env={**__import__("os").environ, "COURSE_ARTIFACTS": str(tmp_path / "artifacts")})
    finally:
        busy.kill()
        busy.wait()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


def test_threads_and_budgets_follow_the_free_cores():
    default = 2
    assert busy_machine.threads_for(None, 2, default) == 2          # no /proc: nothing changes
    assert busy_machine.threads_for(0.1, 2, default) == 2           # background noise
    assert busy_machine.threads_for(1.0, 2, default) == 1           # one busy core of two
    assert busy_machine.threads_for(1.9, 2, default) == 1           # never below one
    assert busy_machine.threads_for(1.0, 8, 8) == 7
    assert busy_machine.threads_for(1.0, 8, 4) == 4                 # never raised
    load = busy_machine.FileLoad
    assert busy_machine.budget_factor(load(2, 0.0, other=0.1), 2) == 1.0
    assert busy_machine.budget_factor(load(1, 1.0, other=1.0), 2) == 2.0
    assert busy_machine.budget_factor(load(1, 1.0, other=5.0), 2) == 2.0   # at most the core count
    assert busy_machine.budget_factor(None, 2) == 1.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_meter_tells_our_own_work_from_another_programs():
    """CPU our children use is ours (not 'other'); a program this process did not start
    (a spinning grandchild, re-parented when its parent exits) is 'other'."""
    spin = "import time\nt = time.time()\nwhile time.time() - t < {s}: pass\nprint(time.process_time())"
    own_before = busy_machine._own_cpu_seconds()
    child = subprocess.run([sys.executable, "-c", spin.format(s=1.0)], capture_output=True, text=True)
    child_cpu = float(child.stdout)
    assert busy_machine._own_cpu_seconds() - own_before >= child_cpu - 0.05

    stranger = subprocess.Popen(["sh", "-c", f"{sys.executable} -c '{spin.format(s=1.5)}' >/dev/null &"])
    stranger.wait()                          # the shell exits; its spinning child is not ours
    meter = busy_machine.CpuMeter().start()
    time.sleep(1.0)
    other = meter.other_cores()
    time.sleep(0.7)                          # the stranger is done before the next test file
    assert other >= 0.5
