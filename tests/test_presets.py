"""Every size preset of every model family, GPU ones included, runs on the CPU: one
training step and one sampling/decoding step with a tiny batch (tests/smoke.py).

The GPU presets are what a lesson's config cell picks on CUDA; nothing else in CI builds
them, so without this test their shapes could be wrong for years."""

from __future__ import annotations

import importlib
import pkgutil
import time
from pathlib import Path

import pytest

import course_lib
from course_lib.runtime import seed_everything
from tests.smoke import SMOKE

for _path in sorted(Path(__file__).parent.glob("smoke_*.py")):
    importlib.import_module(f"tests.{_path.stem}")


def preset_tables() -> dict[str, dict]:
    """{"course_lib.<module>.<NAME>PRESETS": table} for every module of course_lib."""
    tables = {}
    for info in pkgutil.walk_packages(course_lib.__path__, "course_lib."):
        if info.name.startswith("course_lib.tools") or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if name.endswith("PRESETS") and isinstance(value, dict) and _defined_here(module, name):
                tables[f"{info.name}.{name}"] = value
    return tables


def _defined_here(module, name: str) -> bool:
    """A table imported from another module is counted where it is defined, not here."""
    source = Path(module.__file__).read_text()
    return f"\n{name} = " in source or f"\n{name}: " in source


TABLES = preset_tables()
CASES = [(table, key) for table, presets in TABLES.items() for key in presets]


def test_every_table_has_cpu_and_gpu_and_a_smoke_function():
    assert TABLES, "no PRESETS tables found in course_lib"
    for table, presets in TABLES.items():
        assert {"cpu", "gpu"} <= set(presets), f"{table} must name a 'cpu' and a 'gpu' recipe"
        assert table in SMOKE, f"{table} has no smoke function: add one to a tests/smoke_*.py file"
    assert not set(SMOKE) - set(TABLES), f"smoke functions for unknown tables: {set(SMOKE) - set(TABLES)}"


@pytest.mark.parametrize("table,key", CASES, ids=[f"{t.split('.', 1)[1]}[{k}]" for t, k in CASES])
def test_preset_trains_one_step_and_samples_on_cpu(table, key, capsys):
    seed_everything(0)
    start = time.perf_counter()
    SMOKE[table](TABLES[table][key])
    with capsys.disabled():
        print(f"  {table}[{key}]: {time.perf_counter() - start:.2f} s", end="")
