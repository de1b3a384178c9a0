#!/usr/bin/env python3
"""Builds a small demo distribution (wheel and sdist) to upload to the index.

Usage: demo_package.py OUTDIR [--name privatepypi-demo] [--version 1.0.0]
Prints the paths of the built files, one per line.
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile

PYPROJECT = """[build-system]
requires = ["setuptools>=61", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
description = "Demo package for the privatepypi.aws index"
requires-python = ">=3.9"
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=pathlib.Path)
    parser.add_argument("--name", default="privatepypi-demo")
    parser.add_argument("--version", default="1.0.0")
    args = parser.parse_args()
    module = args.name.replace("-", "_")
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp)
        (src / "pyproject.toml").write_text(PYPROJECT.format(name=args.name, version=args.version))
        (src / module).mkdir()
        (src / module / "__init__.py").write_text(f'VERSION = "{args.version}"\n')
        args.outdir.mkdir(parents=True, exist_ok=True)
        built = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(args.outdir),
                                str(src)], capture_output=True, text=True)
        if built.returncode:
            sys.exit(built.stdout + built.stderr)
    for path in sorted(args.outdir.glob(f"{module}-{args.version}*")):
        print(path)


if __name__ == "__main__":
    main()
