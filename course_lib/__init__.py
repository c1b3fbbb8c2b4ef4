"""course_lib: the tested library behind *Generative Audio & Video from Scratch*.

Each lesson builds one piece here; later lessons import it.
"""

__version__ = "0.1.0"
