"""Notebook kernels run with non-loopback network access refused."""

import importlib.util
import socket
from pathlib import Path

import nbformat
import pytest

from course_lib.tools import authoring


def load_guard():
    path = Path(authoring.__file__).parent / "offline" / "sitecustomize.py"
    spec = importlib.util.spec_from_file_location("guard_under_test", path)
    module = importlib.util.module_from_spec(spec)
    real = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
    try:
        spec.loader.exec_module(module)
    finally:  # keep this pytest process itself unpatched
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = real
    return module


class FakeSocket:
    family = socket.AF_INET


def test_guard_refuses_remote_addresses_before_connecting():
    guard = load_guard()
    calls = []
    connect = guard.guard_connect(lambda self, address: calls.append(address))
    with pytest.raises(ConnectionRefusedError, match="network access is disabled"):
        connect(FakeSocket(), ("192.0.2.1", 80))   # TEST-NET address: never reached
    assert calls == [], "the real connect must not be called for a remote address"
    connect(FakeSocket(), ("127.0.0.1", 8888))
    connect(FakeSocket(), ("localhost", 8888))
    assert calls == [("127.0.0.1", 8888), ("localhost", 8888)]


def test_guard_refuses_name_lookups():
    guard = load_guard()
    lookup = guard.guard_getaddrinfo(lambda host, *a: ["resolved", host])
    with pytest.raises(socket.gaierror, match="network access is disabled"):
        lookup("example.com", 80)
    assert lookup("127.0.0.1", 80) == ["resolved", "127.0.0.1"]
    assert lookup("::1", 80) == ["resolved", "::1"]


def test_notebook_kernel_is_offline(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import socket\n"
        "assert socket.socket.connect.__name__ == 'guarded_connect'\n"
        "try:\n"
        "    socket.create_connection(('example.com', 80), timeout=2)\n"
        "    raise SystemExit('connected: the guard is missing')\n"
        "except socket.gaierror as e:\n"
        "    assert 'network access is disabled' in str(e)\n"
        "print('offline ok')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out = authoring.execute(nb, cwd=tmp_path, timeout=60)
    assert "offline ok" in out.cells[0].outputs[0]["text"]


def test_kernels_run_this_python(tmp_path):
    import sys
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys\nprint(sys.executable)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out = authoring.execute(nb, cwd=tmp_path, timeout=60)
    assert out.cells[0].outputs[0]["text"].strip() == sys.executable
