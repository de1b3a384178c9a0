"""The benchmark's Python scripts (benchmarks/*.py) as modules, for the tests of their parts: they are
scripts, not a package, so each is loaded from its file."""

import importlib.util
import os

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "benchmarks")


def load(name):
    """benchmarks/<name>.py, imported as the module bench_<name>."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(BENCHMARKS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
