#!/usr/bin/env bash
# Runs the project's tests; README.md ("Tests") says which to run when.
#
#   scripts/test.sh                 every test, as CI runs it: setup, then every stage
#   scripts/test.sh fast            lint, sanity, unit and one professional site.yml (smoke);
#                                   unit, smoke, and lint then sanity side by side
#   scripts/test.sh STAGE...        the named stages only, in that order
#   scripts/test.sh STAGE -- ARG... one stage with its runner's own arguments, e.g.
#       scripts/test.sh unit -- tests/unit/test_rehearse.py -k helpers
#       scripts/test.sh integration -- tests/integration/test_operations.py
#       scripts/test.sh molecule -- clients          (one scenario)
#
# Stages: lint unit sanity smoke molecule integration rehearsal. A stage that fails prints, as
# the run's last line, which stage and which tests failed.
#
# The full run has four lanes, started together: integration; the molecule scenarios default and
# clients; the boot rehearsal; the molecule scenario tls, then lint, sanity and unit (molecule mostly
# waits on containers booting and installing). Each lane's stages run in
# order; the other lanes' output goes to tests/output/lane-<first stage>.log (molecule:tls ->
# lane-molecule_tls.log) and is printed when they end. A lane names a stage's runner arguments after
# a colon: molecule:default,clients.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg
OUT=$ROOT/tests/output
mkdir -p "$OUT"

all_stages=(lint unit sanity smoke molecule integration rehearsal)
fast=0
stages=()
runner_args=()
while (($#)); do
  case $1 in
    --) shift; runner_args=("$@"); break ;;
    fast) stages+=(lint sanity unit smoke); fast=1 ;;
    lint|unit|sanity|smoke|molecule|integration|rehearsal) stages+=("$1") ;;
    *) echo "test.sh: unknown stage '$1' (stages: ${all_stages[*]}, or fast)" >&2; exit 2 ;;
  esac
  shift
done
if ((${#runner_args[@]})) && ((${#stages[@]} != 1)); then
  echo "test.sh: arguments after -- go to exactly one stage" >&2; exit 2
fi
full=0
((${#stages[@]})) || full=1

# Setup in two parts: the tools (Debian packages, the venvs) for every stage; the Docker engine
# and the test images only for the stages that run containers or the emulator on its network.
needs_docker=0
for stage in "${stages[@]}"; do
  case $stage in smoke|molecule|integration|rehearsal) needs_docker=1 ;; esac
done
# Every run builds only the engine up front: the stages that boot an image build it when they
# start (scripts/build-*-image.sh: once, a second caller waits), so that on a fresh machine the
# images' downloads overlap the lanes that need none (integration, lint, unit).
if ((full || needs_docker)); then scripts/setup.sh engine; else scripts/setup.sh tools; fi

# A copy of the collection in ~/.ansible/collections (an installed artifact, or one molecule made
# before its scenarios said prerun: false) shadows this checkout's modules for ansible-lint, which looks
# there before ansible.cfg's collections_path. The checkout is reached through .collections only.
forget_installed_copy() {
  rm -rf "${HOME}/.ansible/collections/ansible_collections/privatepypi/aws"
}

# pytest with a cache of its own per stage: on failure, its lastfailed entry names the tests.
pytest_stage() {  # stage pytest-args...
  local stage=$1; shift
  local cache=$OUT/pytest-cache-$stage
  rm -rf "$cache"
  python -m pytest -o cache_dir="$cache" "$@" || {
    python - "$cache/v/cache/lastfailed" >"$failure_file" <<'EOF' || true
import json, sys
try:
    print(" ".join(sorted(json.load(open(sys.argv[1])))))
except OSError:
    pass
EOF
    return 1
  }
}

# A stage function runs where bash ignores `set -e` (run_stage calls it in an `||` list): a
# step's failure must be returned by hand, or the stage passes on its last command's status.
stage_lint() {
  forget_installed_copy
  local failed=()
  yamllint -s . || failed+=(yamllint)
  ruff check . || failed+=(ruff)
  luacheck --no-color --formatter plain $(git ls-files '*.lua') || failed+=(luacheck)
  ansible-lint --profile production --offline || failed+=(ansible-lint)
  # every lock file still answers its input (scripts/lock.sh writes them)
  scripts/lock.sh --check || failed+=(lock.sh)
  if ((${#failed[@]})); then echo "${failed[*]}" >"$failure_file"; return 1; fi
}
stage_unit() {
  # two workers: half the tests render the role through ansible-playbook and wait on it. A file
  # stays on one worker (loadfile): its module fixtures, the role renders, run once, not once per
  # worker (169 s -> 147 s idle, 288 -> 239 CPU seconds)
  pytest_stage unit -q -n 2 --dist loadfile "${runner_args[@]:-tests/unit}"
}
stage_sanity() {
  # ansible-test needs the collection at a real .../ansible_collections/<ns>/<name> path.
  # ansible-test fetches a pip bootstrap script from the internet; this machine reaches
  # package registries only, so give it the offline stand-in.
  mkdir -p ~/.ansible/test/cache || return 1
  cp tests/sanity/offline_get_pip.py ~/.ansible/test/cache/get_pip_24_2.py || return 1
  # one tree per checkout: two checkouts on one machine must not delete each other's tree
  local tree
  tree=/var/tmp/privatepypi-sanity-$(printf %s "$ROOT" | sha256sum | cut -c1-12)/ansible_collections/privatepypi/aws
  rm -rf "$tree" && mkdir -p "$tree" || return 1
  git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$tree/" || return 1
  # The AWS modules build on amazon.aws (module_utils, doc fragments): it must sit beside them.
  local amazon_aws
  amazon_aws=$(python -c 'import ansible_collections.amazon.aws as c; print(c.__path__[0])') || return 1
  mkdir -p "$tree/../../amazon" && ln -sfn "$amazon_aws" "$tree/../../amazon/aws" || return 1
  (cd "$tree" && git init -q && git add -A && ansible-test sanity --python 3.11 --color no \
     --skip-test shellcheck plugins/ tests/unit/)
}
stage_smoke() {
  # one whole professional site.yml (domain, bastion, agents on) against the emulator
  pytest_stage smoke -q -m smoke "${runner_args[@]:-tests/integration}"
}
stage_molecule() {
  local scenarios=("${runner_args[@]}")
  ((${#scenarios[@]})) || mapfile -t scenarios < <(ls molecule)
  # the systemd images the scenarios name (privatepypi/debian<release>-systemd), built if missing
  local scenario release
  for release in $(for scenario in "${scenarios[@]}"; do
                     sed -n 's|.*image: privatepypi/debian\([0-9]*\)-systemd.*|\1|p' "molecule/$scenario/molecule.yml"
                   done | sort -u); do
    scripts/build-systemd-image.sh "$release" || return 1
  done
  local began
  for scenario in "${scenarios[@]}"; do
    echo "--- molecule scenario $scenario"
    began=$(date +%s)
    # the scenarios' playbook runs take each module's payload from the cache the other stages' runs
    # share, built once from the same sources (tests/support/molecule-bin, playbook_shared_payloads.py)
    PATH=$PWD/tests/support/molecule-bin:$PATH PRIVATEPYPI_TEST_ANSIBALLZ_CACHE=$OUT/ansiballz molecule test -s "$scenario" ||
      { echo "molecule scenario $scenario" >"$failure_file"; return 1; }
    echo "--- molecule scenario $scenario passed in $(( $(date +%s) - began ))s"
  done
}
stage_integration() {
  # two workers, each with its own emulator: most of the time is spent waiting on playbooks;
  # loadgroup keeps the tests of a module marked xdist_group on one worker (one stack, deployed once)
  pytest_stage integration -q -n 2 --dist loadgroup -m "not smoke" --durations=15 \
    "${runner_args[@]:-tests/integration}"
}
stage_rehearsal() {
  scripts/build-cloud-image.sh trixie || return 1  # Debian 13, what tests/support/rehearse.py boots
  pytest_stage rehearsal -q -s --durations=15 "${runner_args[@]:-tests/rehearsal}"
}

timings=()
# run_stage STAGE[:ARG,ARG...]: runs it (with those arguments for its runner, as after --), records its
# time, and on failure names it and its failed tests. A stage writes what failed to $failure_file, one
# per label: two runs of one stage in different lanes (molecule:clients and molecule:tls) keep theirs apart.
run_stage() {
  local label=$1 stage=${1%%:*} started rc=0
  local failure_file=$OUT/failed-${label//[^A-Za-z0-9_-]/_}  # the stage functions write it (dynamic scope)
  if [[ $label == *:* ]]; then
    local -a runner_args  # the stage functions read this (bash's scoping is dynamic)
    IFS=, read -ra runner_args <<<"${label#*:}"
  fi
  echo "=== $label"
  rm -f "$failure_file"
  started=$(date +%s)
  "stage_$stage" || rc=$?
  timings+=("$label $(( $(date +%s) - started ))s")
  if ((rc)); then
    local failed=""
    [ -s "$failure_file" ] && failed=": $(cat "$failure_file")"
    echo "$label$failed" >>"$OUT/failed-stage"
  fi
  return "$rc"
}
run_lane() {  # stage...: in order, stops at the first failure
  local cpu
  for stage in "$@"; do run_stage "$stage" || return 1; done
  lane_cpu cpu
  echo "=== lane passed: ${timings[*]}; $cpu"
}
# The CPU the lane's processes used, so that the lanes of a CPU-bound run can be compared by what they
# cost, not only by how long they waited: with the cgroup v1 cpuacct controller, every process the lane
# started (those its test processes' servers fork included; account_cpu_to); without it, bash's
# `times` (children's line: only the processes the lane waited for). What runs inside the containers
# of the Docker engine counts apart (docker_cpu), except the rehearsal's instances, which are the lane's.
lane_cpu() {  # variable-name: sets it to a sentence
  if [ -n "${LANE_CPU_GROUP:-}" ]; then
    printf -v "$1" 'CPU of the lane %ss' "$(( $(cat "$LANE_CPU_GROUP/cpuacct.usage") / 1000000000 ))"
    return
  fi
  # `times` in this shell: in a pipe or $(...) it would run in a subshell that has no children
  local record=$OUT/.lane-cpu.$BASHPID self children
  times >"$record"
  { read -r self; read -r children; } <"$record"
  rm -f "$record"
  printf -v "$1" 'CPU of its processes (user, system): %s' "$children"
}
CPUACCT_CGROUPS=/sys/fs/cgroup/cpuacct
account_cpu_to() {  # name: this shell, and all it starts from now on, counted in group privatepypi-<name>
  local dir=$CPUACCT_CGROUPS/privatepypi-$1
  [ -f "$CPUACCT_CGROUPS/cpuacct.usage" ] && [ -w "$CPUACCT_CGROUPS" ] || return 0
  mkdir -p "$dir" && echo 0 >"$dir/cpuacct.usage" && echo "$BASHPID" >"$dir/cgroup.procs" && LANE_CPU_GROUP=$dir
}
docker_cpu() {  # CPU seconds of the Docker engine's containers since they started
  local usage=$CPUACCT_CGROUPS/docker/cpuacct.usage
  if [ -r "$usage" ]; then echo $(( $(cat "$usage") / 1000000000 )); else echo 0; fi
}
# CPU seconds the whole machine spent busy (every core, every process) since boot, from /proc/stat
machine_busy_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '/^cpu /{print int(($2+$3+$4+$7+$8)/hz)}' /proc/stat
}
lane_name() {  # variable-name lane: sets it to the lane's first stage as a file name (molecule:tls -> molecule_tls)
  local first=${2%% *}
  printf -v "$1" '%s' "${first//[^A-Za-z0-9_-]/_}"
}
# run_lanes MAIN OTHER...: each argument one lane, its stages separated by spaces, run in order.
# The other lanes start first, in the background, each in a process group of its own (set -m) so
# that a failure of the main lane ends them with everything they started; their output goes to
# tests/output/lane-<first stage>.log and is printed when they end (whole if that lane failed).
run_lanes() {
  local main=$1 lane name i lane_rc main_rc=0 failed=0 pids=() names=() busy_before lanes_began docker_before
  shift
  busy_before=$(machine_busy_cpu) lanes_began=$(date +%s) docker_before=$(docker_cpu)
  set -m
  for lane in "$@"; do
    lane_name name "$lane"
    # shellcheck disable=SC2086 # a lane is its stages' names, split on purpose
    ( if [ "$name" = rehearsal ]; then
        join_cpu_group rehearsal "$REHEARSAL_CPU_SHARES"
        export REHEARSAL_CGROUP_PARENT=/privatepypi-rehearsal  # its instance containers join it (rehearse.py)
      fi
      account_cpu_to "$name"
      run_lane $lane ) >"$OUT/lane-$name.log" 2>&1 &
    pids+=("$!")
    names+=("$name")
  done
  set +m
  lane_name name "$main"
  account_cpu_to "$name"
  # shellcheck disable=SC2086
  run_lane $main || main_rc=$?
  if [ -n "${LANE_CPU_GROUP:-}" ]; then echo "$BASHPID" >"$CPUACCT_CGROUPS/cgroup.procs"; LANE_CPU_GROUP=; fi
  for i in "${!pids[@]}"; do
    if ((main_rc)); then kill -- "-${pids[i]}" 2>/dev/null || true; fi
    lane_rc=0
    wait "${pids[i]}" || lane_rc=$?
    echo "=== the ${names[i]} lane, from tests/output/lane-${names[i]}.log:"
    if ((lane_rc && !main_rc)); then cat "$OUT/lane-${names[i]}.log"; else tail -3 "$OUT/lane-${names[i]}.log"; fi
    if ((lane_rc)); then failed=1; fi
  done
  echo "=== machine CPU busy $(( $(machine_busy_cpu) - busy_before ))s in $(( $(date +%s) - lanes_began ))s on $(nproc) cores;" \
       "the Docker engine's containers $(( $(docker_cpu) - docker_before ))s of it"
  if ((main_rc || failed)); then report_failure; fi
}
# CPU groups (the cgroup v1 cpu controller, as on this machine kind): under contention a group gets
# CPU in proportion to its shares, whatever the number of processes in it. The full run puts its
# lanes in one group and the boot rehearsal, its instance containers included, in another with four
# times the shares: the rehearsal asserts time bounds (a replacement healthy within 20 s, a
# revocation refused within seconds of the instance's files changing) that failed beside the other
# lanes when each of their 20-odd processes weighed as much as all the rehearsal's containers
# together (the Docker engine's group). Where there is no such controller, the rehearsal runs last,
# alone.
CPU_CGROUPS=/sys/fs/cgroup/cpu
REHEARSAL_CPU_SHARES=4096
cpu_groups_available() {
  [ -f "$CPU_CGROUPS/cpu.shares" ] && [ -w "$CPU_CGROUPS" ] && docker info -f '{{.CgroupVersion}}' 2>/dev/null | grep -qx 1
}
join_cpu_group() {  # name shares: this shell, and all it starts from now on, in group privatepypi-<name>
  local dir=$CPU_CGROUPS/privatepypi-$1
  mkdir -p "$dir" && echo "$2" >"$dir/cpu.shares" && echo "$BASHPID" >"$dir/cgroup.procs"
}

report_failure() {
  local failed
  failed=$(paste -sd ';' "$OUT/failed-stage" 2>/dev/null || true)
  echo "=== FAILED stage ${failed:-(unknown)}"
  exit 1
}

rm -f "$OUT/failed-stage"
started=$(date +%s)
if ((full)); then
  # integration alone in the foreground (the longest). The clients scenario measures a cached reader's
  # latency under a flood: it runs beside integration only (beside the tls scenario too, its p99 went
  # from under 50 ms to 54 ms), after default, while tls (its own containers, network and ports) runs
  # first in its lane, beside default. The boot rehearsal runs beside them in a CPU group of its own
  # (join_cpu_group); without one, last and alone: beside the three lanes in the same group, at a load
  # of 24, a replacement took 21.8 s to healthy and revocations were refused 5-13 s after the change.
  if cpu_groups_available; then
    join_cpu_group lanes 1024
    run_lanes "integration" "molecule:default,clients" "molecule:tls lint sanity unit" "rehearsal"
  else
    run_lanes "integration" "molecule:default,clients" "molecule:tls lint sanity unit"
    run_stage rehearsal || report_failure
  fi
  echo "=== all passed in $(( $(date +%s) - started ))s: ${timings[*]}"
elif ((fast && ${#stages[@]} == 4)); then
  # three lanes at once: unit (two workers), smoke (one playbook chain), lint then sanity (mostly one
  # process each). The tier is CPU-bound on two cores, so it ends about when their CPU is spent;
  # smoke after unit left a core idle for its last minute and a half.
  run_lanes "unit" "smoke" "lint sanity"
  echo "=== all passed in $(( $(date +%s) - started ))s"
else
  for stage in "${stages[@]}"; do run_stage "$stage" || report_failure; done
  echo "=== all passed in $(( $(date +%s) - started ))s: ${timings[*]}"
fi
