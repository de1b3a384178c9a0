"""benchmarks/render_store.py runs end to end on a small store (its checks exit non-zero on a wrong page)."""

import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "benchmarks", "render_store.py")


def test_render_benchmark_small_store(tmp_path):
    result = subprocess.run([sys.executable, SCRIPT, "--files", "50", "--dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "10 projects, 50 files" in result.stdout
    assert "incremental render of one upload" in result.stdout
