"""course build: stubbing solution regions, tagging checks, staleness."""

import textwrap

import nbformat
import pytest

from course_lib.tools import authoring

HEADER = textwrap.dedent("""\
    # ---
    # jupyter:
    #   kernelspec:
    #     display_name: Python 3 (ipykernel)
    #     language: python
    #     name: python3
    # ---
    """)

SOLUTION = HEADER + textwrap.dedent('''
    # %% [markdown]
    # # Demo exercises

    # %%
    def add(a, b):
        """Sum of a and b."""
        ### BEGIN SOLUTION
        total = a + b
        return total
        ### END SOLUTION

    # %%
    class Scaler:
        def __call__(self, x, k):
            ### BEGIN SOLUTION
            return [k * v for v in x]
            ### END SOLUTION

    # %% tags=["check"]
    # Check: add sums two numbers
    assert add(2, 3) == 5, "add(2, 3) must be 5"

    # %% tags=["check"]
    # Check: Scaler multiplies every element
    assert Scaler()([1, 2], 3) == [3, 6], "Scaler()([1, 2], 3) must be [3, 6]"
    ''')


def write_day(root, text=SOLUTION, stem="day99_demo"):
    (root / "solutions").mkdir(parents=True, exist_ok=True)
    (root / "notebooks").mkdir(exist_ok=True)
    path = root / "solutions" / f"{stem}.py"
    path.write_text(text)
    return path


def test_solution_regions_become_stubs_at_their_indentation(tmp_path):
    nb = authoring.make_exercise(authoring.read_source(write_day(tmp_path)))
    add_cell, scaler_cell = nb.cells[1].source, nb.cells[2].source
    assert "a + b" not in add_cell and "BEGIN SOLUTION" not in add_cell
    assert '    """Sum of a and b."""\n    # YOUR CODE HERE\n    raise NotImplementedError()' in add_cell
    assert "        # YOUR CODE HERE\n        raise NotImplementedError()" in scaler_cell
    compile(add_cell, "cell", "exec")
    compile(scaler_cell, "cell", "exec")


def test_check_cells_get_raises_exception_and_outputs_are_cleared(tmp_path):
    solution = authoring.read_source(write_day(tmp_path))
    solution.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    solution.cells[1].execution_count = 3
    nb = authoring.make_exercise(solution)
    checks = authoring.check_cells(nb)
    assert checks == [3, 4]
    for i in checks:
        assert nb.cells[i].metadata["tags"] == ["check", "raises-exception"]
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    assert authoring.check_name(nb.cells[3].source) == "add sums two numbers"


@pytest.mark.parametrize("bad, match", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "nested"),
])
def test_malformed_regions_are_reported(tmp_path, bad, match):
    path = write_day(tmp_path, HEADER + "\n# %%\n" + bad)
    with pytest.raises(ValueError, match=match):
        authoring.make_exercise(authoring.read_source(path), name=path.stem)


def test_build_writes_exercises_and_check_reports_stale(tmp_path):
    path = write_day(tmp_path)
    report = authoring.build(tmp_path, check=True, log=lambda *_: None)
    assert set(report.stale) == {"solutions/day99_demo.ipynb", "exercises/day99_demo.ipynb"}
    assert not (tmp_path / "exercises" / "day99_demo.ipynb").exists(), "--check must write nothing"

    authoring.build(tmp_path, log=lambda *_: None)
    assert authoring.build(tmp_path, check=True).stale == []
    executed = nbformat.read(tmp_path / "solutions" / "day99_demo.ipynb", as_version=4)
    assert executed.cells[1].execution_count == 1, "the solution is committed executed"
    exercise = nbformat.read(tmp_path / "exercises" / "day99_demo.ipynb", as_version=4)
    assert "raise NotImplementedError()" in exercise.cells[1].source

    # Editing the source makes both the rendering and the exercise stale.
    path.write_text(SOLUTION.replace("must be 5", "should be 5"))
    assert set(authoring.build(tmp_path, check=True).stale) == {
        "solutions/day99_demo.ipynb", "exercises/day99_demo.ipynb"}

    # A hand-edited exercise is stale too.
    authoring.build(tmp_path, log=lambda *_: None)
    ex_path = tmp_path / "exercises" / "day99_demo.ipynb"
    ex_path.write_text(ex_path.read_text().replace("YOUR CODE HERE", "my code"))
    assert authoring.build(tmp_path, check=True).stale == ["exercises/day99_demo.ipynb"]


def test_cell_ids_are_deterministic(tmp_path):
    path = write_day(tmp_path)
    assert authoring.exercise_text(path) == authoring.exercise_text(path)


def test_clean_stores_a_progress_bar_as_its_last_state():
    """tqdm's widget carries its first state (0 %) as text; clean() writes the last one,
    read from the widget state nbclient saved, and drops widgets that are not bars."""
    import nbformat

    from course_lib.tools import authoring

    def model(name, **state):
        return {"model_name": name, "state": state}

    widgets = {"bar": model("HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]),
               "l": model("HTMLModel", value="DiT:\u2007100%"),
               "p": model("FloatProgressModel", value=30.0, max=30.0),
               "r": model("HTMLModel", value="\u200730/30\u2007[00:01&lt;00:00,\u200730.0it/s]"),
               "slider": model("VBoxModel", children=["IPY_MODEL_digit", "IPY_MODEL_nfft"]),
               "digit": model("IntSliderModel", value=3, description="digit"),
               "nfft": model("SelectionSliderModel", index=1, _options_labels=["256", "512"], description="n_fft")}
    view = authoring.WIDGET_VIEW
    cell = nbformat.v4.new_code_cell("train()", outputs=[
        nbformat.v4.new_output("display_data", data={"text/plain": "DiT:   0%|          | 0/30", view: {"model_id": "bar"}}),
        nbformat.v4.new_output("display_data", data={"text/plain": "IntSlider(value=3)", view: {"model_id": "slider"}}),
        nbformat.v4.new_output("display_data", data={"text/plain": "Button()", view: {"model_id": "gone"}})])
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={"widgets": {authoring.WIDGET_STATE: {"state": widgets}}})
    authoring.clean(nb, "t")
    bar, slider, gone = nb.cells[0].outputs
    assert bar.data == {"text/plain": "DiT: 100%|██████████| 30/30 [00:01<00:00, 30.0it/s]"}
    # a widget with saved state keeps its view (renamed to a stable id) and its models,
    # and gains a text line naming its control values; one without state is just text
    assert slider.data[view] == {"model_id": "t-widget-00"}
    assert slider.data["text/plain"].startswith("Saved view at digit = 3, n_fft = 512 (run the cell")
    assert gone.data == {"text/plain": "Button()"}
    assert list(nb.metadata["widgets"][authoring.WIDGET_STATE]["state"]) == ["t-widget-00", "t-widget-01",
                                                                          "t-widget-02"]


def _execute_with_one_retry(authoring, src, cwd):
    """`authoring.execute` with a 120 s cell limit, retried once in a fresh kernel after a
    timeout. Seen once in a fresh-clone run: this 3-second notebook's first kernel and
    nbclient both sat idle in epoll for over 5 minutes (py-spy; the kernel had used no CPU:
    it never ran the cell), a lost message between the two processes, not a slow cell."""
    from nbclient.exceptions import CellTimeoutError

    try:
        return authoring.execute(authoring.read_source(src), cwd=cwd, timeout=120)
    except CellTimeoutError:
        return authoring.execute(authoring.read_source(src), cwd=cwd, timeout=120)


def test_an_interactive_widget_is_saved_with_its_last_figure(tmp_path):
    """Executed for real: `interact` over a plot. The saved notebook carries the widget
    models (for JupyterLab) and the last figure as image/png (for GitHub, nbconvert, a
    static book), and building twice gives the same widget ids."""
    from course_lib.tools import authoring

    src = tmp_path / "day99_widget.py"
    src.write_text("# %%\nimport ipywidgets as widgets\nimport matplotlib.pyplot as plt\n\n"
                   "def show(a=1.0):\n    plt.figure(figsize=(2, 2)); plt.plot([0, 1], [0, a]); plt.show()\n"
                   "    print('slope', a)\n\n"
                   "widgets.interact(show, a=widgets.FloatSlider(1.5, min=0, max=3));\n")
    texts = []
    for _ in range(2):  # the kernel draws inline, as in `course build` (the suite sets Agg)
        with authoring.environment(MPLBACKEND="module://matplotlib_inline.backend_inline"):
            nb = authoring.clean(_execute_with_one_retry(authoring, src, tmp_path), src.stem)
        (out,) = nb.cells[0].outputs
        assert out.data["text/plain"] == "Saved view at a = 1.5 (run the cell to move the controls)\nslope 1.5"
        assert out.data["image/png"] and out.data[authoring.WIDGET_VIEW]["model_id"] == "day99-widget-widget-00"
        state = nb.metadata["widgets"][authoring.WIDGET_STATE]["state"]
        assert {m["model_name"] for m in state.values()} >= {"VBoxModel", "FloatSliderModel", "OutputModel"}
        texts.append(sorted(state))
    assert texts[0] == texts[1]
