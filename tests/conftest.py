"""Fixtures shared by the unit tests."""

import pytest

from course_lib.runtime import torch_threads


@pytest.fixture
def one_thread():
    """Tiny models run faster on one thread (and far faster on a busy 2-core machine);
    a test file opts in with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    with torch_threads(1):
        yield
