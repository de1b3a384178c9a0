"""Render timings of the index renderer on a generated store (a command, not a test).

    python benchmarks/render_store.py [--files 100000] [--dir /var/tmp/render-bench]

Generates small, real wheels (5 versions per project), then times: a cold render with no
sidecars (every file hashed and its metadata read once), a cold render with sidecars
present (a restart, or another instance on the same store), one new upload rendered
incrementally, and the poll that notices it.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "roles", "pypiserver", "files"))
from privatepypi_host import renderer, store  # noqa: E402


def wheel(root, project, version):
    dist = f"{project.replace('-', '_')}-{version}"
    with zipfile.ZipFile(os.path.join(root, f"{dist}-py3-none-any.whl"), "w") as archive:
        archive.writestr(f"{dist}.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\nRequires-Python: >=3.8\n\n")
        archive.writestr(f"{project.replace('-', '_')}/__init__.py", f"VERSION = {version!r}\n")


def timed(label, action):
    started = time.perf_counter()
    result = action()
    took = time.perf_counter() - started
    print(f"{label:<48} {took:8.3f} s")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    work = args.dir or tempfile.mkdtemp(prefix="render-bench-", dir="/var/tmp")
    root, pages = os.path.join(work, "packages"), os.path.join(work, "pages")
    os.makedirs(root, exist_ok=True)
    projects = max(1, args.files // 5)

    def generate():
        for i in range(args.files):
            wheel(root, f"project-{i % projects}", f"1.{i // projects}.0")

    timed(f"generate {args.files} wheels", generate)
    first = renderer.Renderer(root, pages)
    timed("cold render, no sidecars (hash + metadata once)", first.render)
    print(f"{'':<48} {first.counts[0]} projects, {first.counts[1]} files")
    shutil.rmtree(pages)
    restarted = renderer.Renderer(root, pages)
    timed("cold render, sidecars present (restart)", restarted.render)
    signature = restarted.signature()
    timed("poll with nothing new (stat the directories)", restarted.signature)
    wheel(root, "project-0", "9.0.0")
    if not timed("poll after one upload", lambda: restarted.signature() != signature):
        sys.exit("the poll did not notice the upload")
    timed("incremental render of one upload", restarted.render)
    with open(os.path.join(pages, "simple", "project-0", "index.html")) as f:
        listed = "project_0-9.0.0-py3-none-any.whl" in f.read()
    if not listed or store.read_sidecar(root, "project_0-9.0.0-py3-none-any.whl")["requires-python"] != ">=3.8":
        sys.exit("the upload is not listed correctly")
    if not args.dir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
