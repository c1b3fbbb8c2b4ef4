"""The course's tools, apart from the models they serve.

- `cli`: the `course` command (`lab`, `build`, `figures`, `run`, `check`, `book`, `gpu-run`,
  `doctor`).
- `authoring`: executes notebook sources into `.ipynb` and writes `exercises/` from
  `solutions/` (solution regions become stubs); `offline_environment()` for kernels.
- `diagrams`: a small SVG toolkit (boxes, arrows, frames, pixel grids) for the lessons'
  concept figures; deterministic output.
- `figures`: draws every figure of `figures/dayNN_*.py` into `notebooks/figures/`.
- `grading`: runs a copy of a learner's notebook with the check cells of `solutions/`
  and reports each check (text or JSON).
- `sandbox`: the limits a graded notebook runs under (time, CPU, memory, output, files,
  processes), the watchdog that enforces them, and the trust model.
- `classroom`: grades many submissions, each in its own process; one JSON report per
  submission and summary.csv.
- `gpu_run`: `course gpu-run` (`make test-gpu`): every lesson and solution on CUDA, timed,
  with the values its asserts check, into a JSON report.
- `book`: the course as a static website from the committed notebooks (`course book`),
  with its scripts vendored from the npm registry.
- `doctor`: is everything the course needs installed and working?
- `offline/sitecustomize.py`: loaded into notebook kernels; refuses network connections
  that leave the machine.
"""
