#!/usr/bin/env bash
# Builds the collection's artifact (privatepypi-aws-<version>.tar.gz) with its changelog:
#   scripts/build.sh [OUTPUT_DIR]          (default: the current directory)
# antsibull-changelog makes CHANGELOG.rst and changelogs/changelog.yaml from changelogs/fragments
# for galaxy.yml's version, in a copy of the checkout (the checkout keeps its fragments), and
# ansible-galaxy builds the artifact from that copy. ANTSIBULL_CHANGELOG names another
# antsibull-changelog than the venv's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
bin=$root/.venv/bin
changelog=${ANTSIBULL_CHANGELOG:-$bin/antsibull-changelog}
[ -x "$changelog" ] || { echo "build.sh: $changelog is missing: run scripts/setup.sh tools" >&2; exit 1; }
version=$(sed -n 's/^version: *//p' "$root/galaxy.yml")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# what git has, committed or not (never the venvs, caches or outputs .gitignore names)
git -C "$root" ls-files --cached --others --exclude-standard >"$work/.files"
mkdir "$work/src"
rsync -a --files-from="$work/.files" --ignore-missing-args "$root/" "$work/src/"
# antsibull-changelog lists the plugins with ansible-doc (the venv's)
(cd "$work/src" && PATH="$bin:$PATH" "$changelog" release --version "$version" >/dev/null 2>"$work/changelog.err") ||
  { cat "$work/changelog.err" >&2; exit 1; }
"$bin/ansible-galaxy" collection build --force --output-path "$out" "$work/src"
