"""A pytest plugin: notebooks executed by nbval wait patiently for output on a busy
machine (the root conftest loads it; `-p tests.nbval_patience` loads it elsewhere).

After a cell's reply, nbval reads the kernel's output messages and fails the cell when
none arrives for 5 s ("Timeout of 5 seconds exceeded waiting for output"). A training
cell on a machine that is doing other work can leave its progress-bar messages queued
longer than that although the result is right. Here that wait is OUTPUT_TIMEOUT_S:
still finite, so a kernel that really hangs still fails (and `--nbval-cell-timeout`
still bounds every cell). Progress bars themselves refresh at most once a second in
kernels the course starts (TQDM_MININTERVAL, set by `authoring.offline_environment`).
"""

OUTPUT_TIMEOUT_S = 120


def pytest_collection_modifyitems(items):
    for item in items:
        if type(item).__name__ == "IPyNbCell":      # nbval's cell item
            item.output_timeout = OUTPUT_TIMEOUT_S
