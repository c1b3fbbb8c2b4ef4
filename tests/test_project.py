"""The project's own consistency: dependency lists, notebook pairs, generated exercises."""

import re
import tomllib

import yaml

import nbformat
import pytest

from course_lib.tools import authoring

CONDA_TO_PIP = {"pytorch": "torch", "pysoundfile": "soundfile", "python": None, "pip": None}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _lock(root) -> dict[str, str]:
    pins = {}
    for line in (root / "requirements-lock.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[_name(name)] = version.strip()
    return pins


def test_environment_yml_lists_the_same_dependencies(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    pip_deps = {_name(d) for d in project["dependencies"] + project["optional-dependencies"]["dev"]}

    env = yaml.safe_load((root / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_deps = {CONDA_TO_PIP.get(_name(d), _name(d)) for d in conda} - {None}
    env_deps = conda_deps | {_name(d) for d in pip_section if not d.startswith("-")}
    assert "-e ." in pip_section, "environment.yml must install the course itself (pip: -e .)"
    assert "-c requirements-lock.txt" in pip_section, "environment.yml's pip must use the lock"
    assert env_deps == pip_deps, (
        f"only in pyproject: {sorted(pip_deps - env_deps)}; only in environment.yml: {sorted(env_deps - pip_deps)}")


def test_the_lock_pins_every_dependency_within_pyproject_ranges(root):
    """make install uses requirements-lock.txt as pip constraints: it must pin every
    dependency but torch (TORCH_SPEC pins that), each inside pyproject's range."""
    from packaging.requirements import Requirement

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    pins = _lock(root)
    assert "torch" not in pins, "torch is pinned by the Makefile's TORCH_SPEC, not the lock"
    for spec in project["dependencies"] + project["optional-dependencies"]["dev"]:
        requirement = Requirement(spec)
        name = _name(requirement.name)
        if name == "torch":
            continue
        assert name in pins, f"{name} is not in requirements-lock.txt (run `make lock`)"
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"the lock's {name}=={pins[name]} is outside pyproject's {requirement.specifier}"
    makefile = (root / "Makefile").read_text()
    assert "LOCK ?= requirements-lock.txt" in makefile and "--constraint $(LOCK)" in makefile


def test_makefile_pins_the_cpu_torch_for_ci(root):
    assert "TORCH_SPEC ?= torch==2.13.0" in (root / "Makefile").read_text()
    assert "make test" in (root / ".ci" / "run").read_text()


@pytest.mark.parametrize("folder", authoring.SOURCE_DIRS)
def test_every_ipynb_equals_its_py_source(root, folder):
    ipynbs = sorted((root / folder).glob("day*.ipynb"))
    pys = sorted((root / folder).glob("day*.py"))
    assert [p.stem for p in ipynbs] == [p.stem for p in pys], f"{folder}: unpaired notebooks"
    for ipynb in ipynbs:
        executed = nbformat.read(ipynb, as_version=4)
        assert authoring.cell_signature(executed) == authoring.cell_signature(
            authoring.read_source(ipynb.with_suffix(".py"))), f"{ipynb} is stale: run `course build`"
        assert all(c.execution_count for c in executed.cells if c.cell_type == "code"), \
            f"{ipynb} must be committed executed"


def test_exercises_are_exactly_what_course_build_writes(root):
    report = authoring.build(root, check=True)
    assert report.stale == [], f"stale: {report.stale} — run `course build`"


def test_every_lesson_has_exercises_and_a_readme_row(root):
    readme = (root / "README.md").read_text()
    for lesson in (root / "notebooks").glob("day*.py"):
        assert (root / "solutions" / lesson.name).exists(), f"{lesson.stem} has no solutions/ twin"
        assert lesson.stem in readme, f"README's day table does not list {lesson.stem}"


def test_docs_never_point_outside_the_repository(root):
    """The repository stands alone: no link or path into a parent folder (`../shared`)."""
    import re
    docs = [root / "README.md", root / "ARCHITECTURE.md", root / "CONTRIBUTING.md",
            *sorted((root / "notebooks").glob("*.py")), *sorted((root / "solutions").glob("*.py"))]
    for doc in docs:
        text = doc.read_text()
        outside = re.findall(r"\.\./(?!exercises/|notebooks/|solutions/)[\w./-]+", text)
        assert not outside, f"{doc.name} points outside the repository: {outside}"
        prose = re.sub(r"```.*?```|`[^`\n]*`", "", text, flags=re.S)   # code shows syntax, not links
        for link in re.findall(r"\]\(([^)#]+)\)", prose):
            if "://" not in link:
                assert (doc.parent / link).resolve().exists(), f"{doc.name} links to missing {link}"


def test_every_subpackage_opens_with_a_map_of_its_modules(root):
    """Each course_lib subpackage's __init__ docstring names every module in it."""
    import ast
    for init in sorted((root / "course_lib").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        modules = sorted(p.stem for p in init.parent.glob("*.py") if p.stem != "__init__")
        missing = [m for m in modules if f"`{m}`" not in doc]
        assert doc and not missing, f"{init.parent.name}/__init__.py must describe every module; missing {missing}"
