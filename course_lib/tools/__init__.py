"""The course's tools, apart from the models they serve.

- `cli`: the `course` command (`lab`, `build`, `check`, `doctor`).
- `authoring`: executes notebook sources into `.ipynb` and writes `exercises/` from
  `solutions/` (solution regions become stubs); `offline_environment()`.
- `grading`: runs a copy of a learner's notebook with the check cells of `solutions/`
  and reports each check (text or JSON).
- `doctor`: is everything the course needs installed and working?
- `offline/sitecustomize.py`: loaded into notebook kernels; refuses network connections
  that leave the machine.
"""
