"""The benchmark's memory figures: benchmarks/measure.py's sampler (a systemd container's memory
cgroup and each unit's, cgroup v1 and v2, the peaks written when it is told to stop) and
benchmarks/report.py's paragraph from the JSON it writes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from benchmark_scripts import BENCHMARKS, load

MIB = 1048576


@pytest.fixture(scope="module")
def measure():
    return load("measure")


@pytest.fixture(scope="module")
def report():
    return load("report")


def _v1(directory, rss, shmem, cache=0):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "memory.stat"), "w") as fh:
        # the direct figures (rss, shmem) are the cgroup's own, total_* include its children
        fh.write(f"cache {cache}\nrss 1\nshmem 1\ntotal_cache {cache}\ntotal_rss {rss}\ntotal_shmem {shmem}\n")


def _container(tmp_path, nginx_rss=30 * MIB):
    root = tmp_path / "docker" / "c0ffee"
    _v1(root, 200 * MIB, 10 * MIB, cache=900 * MIB)
    _v1(root / "system.slice", 180 * MIB, 10 * MIB)
    _v1(root / "system.slice" / "nginx.service", nginx_rss, 8 * MIB)
    _v1(root / "system.slice" / "pypiserver.service", 90 * MIB, 0)
    _v1(root / "system.slice" / "system-getty.slice", 1 * MIB, 0)
    (root / "memory.max_usage_in_bytes").write_text(str(1200 * MIB))
    return root


def test_resident_memory_is_anonymous_and_shared_memory_without_the_page_cache(measure, tmp_path):
    root = _container(tmp_path)
    assert measure.resident_bytes(str(root)) == 210 * MIB
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.stat").write_text(f"anon {50 * MIB}\nfile {700 * MIB}\nshmem {2 * MIB}\n")
    assert measure.resident_bytes(str(v2)) == 52 * MIB
    assert measure.resident_bytes(str(tmp_path / "gone")) is None


def test_a_sample_raises_each_units_peak_and_keeps_the_highest(measure, tmp_path):
    root = _container(tmp_path)
    assert sorted(measure.memory_units(str(root))) == ["nginx.service", "pypiserver.service"]
    peaks = {"container": 0, "units": {}, "samples": 0}
    measure.sample_memory(str(root), peaks)
    _v1(root / "system.slice" / "nginx.service", 10 * MIB, 8 * MIB)  # nginx shrinks: its peak stays
    measure.sample_memory(str(root), peaks)
    assert peaks == {"container": 210 * MIB, "samples": 2,
                     "units": {"nginx.service": 38 * MIB, "pypiserver.service": 90 * MIB}}


def test_the_sampler_runs_until_terminated_and_writes_the_peaks(tmp_path):
    root = _container(tmp_path)
    out = tmp_path / "memory.json"
    proc = subprocess.Popen([sys.executable, os.path.join(BENCHMARKS, "measure.py"), "memory", "--cgroup", str(root),
                             "--interval", "0.05", "--out", str(out)])
    time.sleep(0.5)
    _v1(root / "system.slice" / "nginx.service", 300 * MIB, 8 * MIB)  # a peak while it runs
    time.sleep(0.5)
    assert proc.poll() is None, "the sampler stopped before it was told to"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    peaks = json.loads(out.read_text())
    assert peaks["units"]["nginx.service"] == 308 * MIB
    assert peaks["container_with_cache"] == 1200 * MIB and peaks["samples"] >= 5


def test_the_sampler_refuses_a_container_without_a_cgroup(tmp_path):
    run = subprocess.run([sys.executable, os.path.join(BENCHMARKS, "measure.py"), "memory", "--cgroup",
                          str(tmp_path / "none"), "--out", str(tmp_path / "m.json")], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 1 and "no memory cgroup" in run.stderr
    assert not (tmp_path / "m.json").exists()


def test_the_report_names_the_container_peak_and_the_units_largest_first(report, tmp_path):
    (tmp_path / "memory-100-b.json").write_text(json.dumps({
        "container": 210 * MIB, "container_with_cache": 1200 * MIB, "samples": 1234, "interval_s": 0.5,
        "units": {"nginx.service": 38 * MIB, "pypiserver.service": 90 * MIB, "tiny.service": 4096}}))
    lines = []
    report.memory_section(lines.append, str(tmp_path), 100)
    text = " ".join(lines)
    assert "the container at most 210 MiB (1200 MiB with the page cache" in text
    assert "pypiserver.service 90 MiB, nginx.service 38 MiB" in text and "tiny" not in text
    assert "1,234 samples" in text


def test_the_report_says_when_the_sampler_took_no_sample(report, tmp_path):
    (tmp_path / "memory-100-b.json").write_text(json.dumps({"container": 0, "units": {}, "samples": 0}))
    lines = []
    report.memory_section(lines.append, str(tmp_path), 100)
    assert "**no sample**" in " ".join(lines)
