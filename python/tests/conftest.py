"""Makes python/ importable for `pytest python/tests` from a source checkout
(an installed attnjit, or PYTHONPATH, takes precedence when already set)."""

import pathlib
import sys

_PYTHON_DIR = str(pathlib.Path(__file__).resolve().parents[1])
if _PYTHON_DIR not in sys.path:
    sys.path.append(_PYTHON_DIR)
