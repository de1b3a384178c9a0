#!/usr/bin/env bash
# Runs every test: setup, linters, unit tests, sanity, molecule, AWS rehearsals.
# Usage: scripts/test.sh [stage...]   stages: lint unit sanity molecule integration rehearsal
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
scripts/setup.sh
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(lint unit sanity molecule integration rehearsal)
timings=()

# molecule (through ansible-compat) installs the checkout under test into ~/.ansible/collections;
# ansible-lint looks there before ansible.cfg's collections_path, so a copy left by an earlier run
# would shadow this checkout's modules. The checkout is reached through .collections only.
forget_installed_copy() {
  rm -rf "${HOME}/.ansible/collections/ansible_collections/privatepypi/aws"
}
stage_lint() {
  forget_installed_copy
  yamllint -s .
  ruff check .
  ansible-lint --profile production --offline
}
stage_unit() {
  # two workers: half the tests render the role through ansible-playbook and wait on it
  python -m pytest -q -n 2 tests/unit
}
stage_sanity() {
  # ansible-test needs the collection at a real .../ansible_collections/<ns>/<name> path.
  # ansible-test fetches a pip bootstrap script from the internet; this machine reaches
  # package registries only, so give it the offline stand-in.
  mkdir -p ~/.ansible/test/cache
  cp tests/sanity/offline_get_pip.py ~/.ansible/test/cache/get_pip_24_2.py
  # one tree per checkout: two checkouts on one machine must not delete each other's tree
  local tree
  tree=/var/tmp/privatepypi-sanity-$(printf %s "$ROOT" | sha256sum | cut -c1-12)/ansible_collections/privatepypi/aws
  rm -rf "$tree" && mkdir -p "$tree"
  git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$tree/"
  # The AWS modules build on amazon.aws (module_utils, doc fragments): it must sit beside them.
  local amazon_aws
  amazon_aws=$(python -c 'import ansible_collections.amazon.aws as c; print(c.__path__[0])')
  mkdir -p "$tree/../../amazon" && ln -sfn "$amazon_aws" "$tree/../../amazon/aws"
  (cd "$tree" && git init -q && git add -A && ansible-test sanity --python 3.11 --color no \
     --skip-test shellcheck plugins/ tests/unit/)
}
stage_molecule() {
  molecule test --all
  forget_installed_copy
}
stage_integration() {
  # two workers, each with its own emulator: most of the time is spent waiting on playbooks;
  # loadgroup keeps the tests of a module marked xdist_group on one worker (one stack, deployed once)
  if [ -d tests/integration ]; then python -m pytest -q -n 2 --dist loadgroup tests/integration; fi
}
stage_rehearsal() {
  scripts/build-cloud-image.sh
  python -m pytest -q -s tests/rehearsal
}

for stage in "${stages[@]}"; do
  echo "=== $stage"
  started=$(date +%s)
  "stage_$stage"
  timings+=("$stage $(( $(date +%s) - started ))s")
done
echo "=== all passed: ${timings[*]}"
