"""course_lib: the tested library behind *Generative Audio & Video from Scratch*.

Each lesson builds one piece here; later lessons import it. At the top level:
`runtime` (device, seeds, step-seeded random numbers, thread limits, artifacts/),
`train` (`fit`, recipes, `load_or_train`, presets), `checks` (one-line input checks),
`viz`, `metrics`, `video_metrics`, `distributed` (torchrun). Subpackages: `nn`, `audio`,
`data`, `diffusion`, `speech`, `music`, `sync`, `video`, `streaming`, `threed`, `provenance`, `tools`;
each `__init__.py` maps its modules. ARCHITECTURE.md explains the whole.
"""

__version__ = "0.2.0"
