#!/usr/bin/env bash
# The speed benchmark (issues 5 and 8): on this one machine, side by side,
#   (c0) the ceiling: nginx serving the same static pages and files as (b), copied
#        from (b) after it rendered them, with NO authentication at all
#   (b)  this collection's default deployment of privatepypi.aws.pypiserver
#   (a)  peer: pypiserver 2.4.2 as in its own systemd example
#        (pypi-server run -p 8080 -a update,download -P htpasswd --disable-fallback DIR)
#   (d)  peer: devpi-server 6.20.3 (no read auth: devpi needs a plugin and nginx for it)
#   (c)  optional: (c0) with nginx's auth_basic, one bcrypt (cost 12) per request
# each in its own container of the project's Debian 12 systemd image; (b), (c) and (c0)
# run at once, (a) and (d) each alone. The data set is N projects x 5 wheels plus a dependency
# tree (tree-app: 30 projects x 4 versions, some needing Python >= 3.99). Measured:
#   - wrk (2 threads, 8 connections) on /simple/, /simple/<project>/ and one wheel
#     (a, b, c, c0): per URL, --rounds short rounds per server ((b), (c), (c0) taking turns,
#     the order reversed every other round, --duration seconds per server in all), so a load
#     that comes or goes on the shared machine falls on every server alike; the ratio to the
#     ceiling is the median of the rounds' own ratios (report.py); a round with failed requests
#     fails the run. Then a cold `pip download --no-deps` of 20 packages;
#   - what users feel: the wall time of a cold `uv pip install tree-app` and a cold
#     `pip install tree-app` (fresh venv, empty cache; clients of .venv-clients),
#     and, through a counting proxy, the bytes and requests of one cold install
#     and the wheels fetched that were not installed (a, b, c0, d);
#   - the flood (b): --flood distinct bad credentials sent with wrk (flood.lua), half of them wrong
#     guesses for that user's own name (a lockout attempt), by the container's
#     bridge address, while a user whose verdict is cached reads the project page through the
#     published port (measure.py, each request timed); that user's p50/p99 (target p99 < 10 ms);
#   - (b)'s memory: its container and each systemd unit sampled every 0.5 s from the end of its
#     deployment to the end of its flood (measure.py memory), the peaks of what no reclaim gives back
#     (anonymous and shared memory, not the page cache): what the smallest instance type must hold;
#   - render at scale: the role on a store of --scale files: first render, one new
#     upload listed after how long, a restart of the renderer (time, CPU, bytes read);
#   - public packages (--upstream N, issue 16): the upstream stand-in (upstream_tree.py, in a
#     container) serving a public tree (pub-app: 30 projects x 4 versions, as tree-app), and
#     `uv pip install` / `pip install` of it, N timed runs each: (s) straight from the stand-in;
#     (b) the role with the upstream on, cold (its upstream cache emptied before each run) and
#     warm (filled by a first install); (d) devpi-server with a mirror index of the stand-in,
#     cold (a new mirror index per run) and warm; (c0) nginx with no auth serving the pages (b)
#     answered and the files (b) stored. These servers run side by side and their runs take
#     turns (the machine's load moves). The stand-in counts what each run asked of it: a cold
#     run that asked for no file or a warm one that asked for any fails the run. Then each
#     path's page latency: every page, one request at a time on one connection.
# Markdown tables and the ratios to the ceiling are printed at the end.
#
# Usage: benchmarks/run.sh [--quick] [--projects 1000] [--duration 10] [--rounds 10] [--servers a,b,c0,d]
#                          [--pip-runs 3] [--install-runs 3] [--scale 100000] [--flood 20000]
#                          [--upstream 3] [--keep]
#   --rounds: wrk rounds per server and URL, each --duration/--rounds whole seconds (at least 1).
#     Many short rounds: beside another job taking a core, 2 s rounds' own ratios ranged 0.45-2.08
#     on one URL (5 pairs); the more pairs, the less one unlucky pair moves the median.
#   --quick: --projects 100 --duration 5 --pip-runs 1 --install-runs 1 --scale 0 --upstream 1
#   --upstream 0 skips the public packages; (b), (c0) and (d) there follow --servers.
# Needs scripts/setup.sh first (docker, wrk, the image, .venv, .venv-clients). Load
# goes only to 127.0.0.1 (ports published on loopback). Containers are removed at exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/benchmarks
WORK=${BENCH_WORK:-/var/tmp/privatepypi-bench}
IMAGE=${TEST_IMAGE:-privatepypi/debian12-systemd:latest}
PY=$ROOT/.venv/bin/python
PROJECTS=1000
DURATION=10
ROUNDS=10
SERVERS=a,b,c0,d
PIP_RUNS=3
INSTALL_RUNS=3
SCALE=100000
FLOOD=20000
UPSTREAM_RUNS=3
CLIENTS_BIN=$ROOT/.venv-clients/bin
PIP_PACKAGES=20
KEEP=0
DEPLOY_TIMEOUT=${BENCH_DEPLOY_TIMEOUT:-900}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
while (($#)); do
  case $1 in
    --projects) PROJECTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --pip-runs) PIP_RUNS=$2; shift 2 ;;
    --install-runs) INSTALL_RUNS=$2; shift 2 ;;
    --scale) SCALE=$2; shift 2 ;;
    --flood) FLOOD=$2; shift 2 ;;
    --upstream) UPSTREAM_RUNS=$2; shift 2 ;;
    --quick) PROJECTS=100; DURATION=5; PIP_RUNS=1; INSTALL_RUNS=1; SCALE=0; UPSTREAM_RUNS=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage 2 >&2 ;;
  esac
done
[[ $PROJECTS =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "run.sh: --projects takes e.g. 1000,100" >&2; exit 2; }
if ! [[ $DURATION =~ ^[0-9]+$ ]] || ((DURATION < 1 || DURATION > 120)); then
  echo "run.sh: --duration takes 1..120 seconds" >&2; exit 2
fi
if ! [[ $ROUNDS =~ ^[0-9]+$ ]] || ((ROUNDS < 1 || ROUNDS > 20)); then
  echo "run.sh: --rounds takes 1..20" >&2; exit 2
fi
# rounds of whole seconds (wrk's -d), at least one: --duration 5 --rounds 10 makes 5 rounds of 1 s
((ROUNDS <= DURATION)) || ROUNDS=$DURATION
ROUND_SECONDS=$((DURATION / ROUNDS))
if ! [[ $PIP_RUNS =~ ^[0-9]+$ ]] || ((PIP_RUNS > 10)); then
  echo "run.sh: --pip-runs takes 0..10" >&2; exit 2
fi
if ! [[ $INSTALL_RUNS =~ ^[0-9]+$ ]] || ((INSTALL_RUNS > 10)); then
  echo "run.sh: --install-runs takes 0..10" >&2; exit 2
fi
if ! [[ $SCALE =~ ^[0-9]+$ ]] || ((SCALE > 500000)); then
  echo "run.sh: --scale takes a number of files, 0..500000 (0: skip)" >&2; exit 2
fi
if ! [[ $FLOOD =~ ^[0-9]+$ ]] || ((FLOOD > 200000)); then
  echo "run.sh: --flood takes a number of bad credentials, 0..200000 (0: skip)" >&2; exit 2
fi
if ! [[ $UPSTREAM_RUNS =~ ^[0-9]+$ ]] || ((UPSTREAM_RUNS > 10)); then
  echo "run.sh: --upstream takes 0..10 timed installs per client and state (0: skip)" >&2; exit 2
fi
for s in ${SERVERS//,/ }; do
  case $s in a|b|c|c0|d) ;; *) echo "run.sh: --servers takes a list of a,b,c,c0,d" >&2; exit 2 ;; esac
done
want() { [[ ,$SERVERS, == *,$1,* ]]; }

# ---------------------------------------------------------------- preflight
missing=()
command -v docker >/dev/null || missing+=(docker)
command -v wrk >/dev/null || missing+=(wrk)
[ -x "$PY" ] || missing+=(.venv)
[ -x "$CLIENTS_BIN/uv" ] || missing+=(.venv-clients)
if ((${#missing[@]} == 0)); then
  docker info >/dev/null 2>&1 || missing+=("a running dockerd")
  docker image inspect "$IMAGE" >/dev/null 2>&1 || missing+=("image $IMAGE")
fi
if ((${#missing[@]})); then
  echo "run.sh: missing ${missing[*]}: run scripts/setup.sh first" >&2
  exit 1
fi

started=$(date +%s)
RUN_ID=$(date +%Y%m%d-%H%M%S)-$$
RUN=$WORK/runs/$RUN_ID
mkdir -p "$RUN/results"
LABEL=privatepypi-bench.run=$RUN_ID
SYSTEMD_OPTS=(--cap-add SYS_ADMIN --security-opt seccomp=unconfined --cgroupns=host
  -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock
  --stop-signal SIGRTMIN+3 --label "$LABEL")

cleanup() {
  local rc=$?
  if [ -n "${MEMORY_SAMPLER:-}" ]; then kill -TERM "$MEMORY_SAMPLER" 2>/dev/null || true; fi
  if ((KEEP)); then
    echo "run.sh: --keep: containers left running (docker ps --filter label=$LABEL)" >&2
  else
    docker ps -aq --filter "label=$LABEL" | xargs -r docker rm -f >/dev/null 2>&1 || true
    rm -rf "$RUN"/b-*-pypi "$RUN"/b-*-pages "$RUN"/b-*-cache "$RUN/s-pypi" "$RUN/up-pages" "$RUN/up-files"
  fi
  rm -f "$RUN/deploy-vars.json" "$RUN"/wrk-spec-*.json  # they hold the run's password
  exit "$rc"
}
# Long steps run through `fg`, so a signal is handled at once (bash defers traps
# while a foreground child runs) and the running step is ended too.
CHILD=
fg() {
  "$@" &
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=
  return "$rc"
}
on_signal() {
  [ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null
  exit 130
}
trap cleanup EXIT
trap on_signal INT TERM
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
# A measurement step that fails fails the run: its name and exit status are kept, printed at the
# end with the reasons, and run.sh exits non-zero, after writing the report of what was measured.
step_failed() {  # rc what
  echo "$2 (exit $1)" >>"$RUN/failed-steps.txt"
  log "FAILED: $2 (exit $1)"
}

# One throwaway user for this run, hashed the way the role's htpasswd module
# hashes (passlib.apache.HtpasswdFile, scheme bcrypt, passlib's default cost 12,
# prefix $2y$ like `htpasswd -B`); the report compares it with (b)'s file.
BENCH_USER=bench
BENCH_PASSWORD=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(18))')
AUTH=$(printf '%s:%s' "$BENCH_USER" "$BENCH_PASSWORD" | base64 -w0)
"$PY" - "$BENCH_USER" "$BENCH_PASSWORD" "$RUN/htpasswd" <<'EOF'
import re, sys
from passlib.apache import HtpasswdFile
user, password, path = sys.argv[1:]
ht = HtpasswdFile(path, new=True, default_scheme="bcrypt")
ht.set_password(user, password)
assert re.match(r"\$2[aby]\$12\$", ht.get_hash(user).decode()), ht.get_hash(user)[:7]
ht.save()
EOF
cut -d: -f2 "$RUN/htpasswd" | cut -c1-7 >"$RUN/results/hash-local.txt"
chmod 0644 "$RUN/htpasswd"
(umask 077; printf '{"bench_user": "%s", "bench_password": "%s"}\n' "$BENCH_USER" "$BENCH_PASSWORD" >"$RUN/deploy-vars.json")

# -------------------------------------------------------- images for (a), (c)
# Software is installed inside a container of the project's image (apt, pip),
# then committed, so reruns start in seconds. Rebuilt when a recipe changes.
ensure_image() {  # name dir -> echoes image tag
  local name=$1 dir=$2 tag recipe base
  tag=privatepypi-bench/$name:latest
  base=$(docker image inspect -f '{{.Id}}' "$IMAGE")
  recipe=$(cat "$dir"/* <(echo "$base") | sha256sum | cut -c1-16)
  if [ "$(docker image inspect -f '{{index .Config.Labels "recipe"}}' "$tag" 2>/dev/null)" != "$recipe" ]; then
    log "building image $tag" >&2
    docker rm -f "ppb-build-$name-$$" >/dev/null 2>&1 || true
    fg docker run --name "ppb-build-$name-$$" --label "$LABEL" -v "$dir":/tmp/bench:ro "$IMAGE" \
      sh /tmp/bench/install.sh >"$RUN/build-$name.log" 2>&1 \
      || { tail -20 "$RUN/build-$name.log" >&2; return 1; }
    docker commit -c 'CMD ["/lib/systemd/systemd"]' -c "LABEL recipe=$recipe" \
      "ppb-build-$name-$$" "$tag" >/dev/null
    docker rm "ppb-build-$name-$$" >/dev/null
  fi
  echo "$tag"
}
want a && IMG_A=$(ensure_image baseline "$BENCH/baseline")
{ want c || want c0; } && IMG_C=$(ensure_image limit "$BENCH/limit")
want d && IMG_D=$(ensure_image devpi "$BENCH/devpi")

# The checkout as the collection privatepypi.aws, for the FQCN role name.
COLL=$WORK/collections
mkdir -p "$COLL/ansible_collections/privatepypi"
ln -sfn "$ROOT" "$COLL/ansible_collections/privatepypi/aws"

host_port() { docker port "$1" "$2/tcp" | head -1 | sed 's/.*://'; }
container_id() { docker inspect -f '{{.Id}}' "$1"; }
container_ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
start() {  # name image [docker run options...]
  local name=$1 image=$2; shift 2
  docker run -d --name "$name" --hostname "${name##*-}" "${SYSTEMD_OPTS[@]}" "$@" "$image" >/dev/null
}
stop() { ((KEEP)) || docker rm -f "$1" >/dev/null 2>&1 || true; }
booted() {  # wait until systemd in the container has finished starting up
  local state
  for _ in $(seq 1 60); do
    state=$(docker exec "$1" systemctl is-system-running 2>/dev/null || true)
    case $state in running|degraded) return 0 ;; esac
    sleep 1
  done
  echo "run.sh: $1 did not boot (systemd: ${state:-no answer})" >&2
  return 1
}

# probe SIZE SERVER PORT AUTH: the server answers the three URLs (written to urls-SIZE-SERVER.json).
probe() {
  fg python3 "$BENCH/measure.py" probe --base "http://127.0.0.1:$3" \
    --project "$PROJECT" --auth "$4" --wait 180 >"$RUN/results/urls-$1-$2.json" \
    2>"$RUN/probe-$1-$2.err" || { step_failed $? "probe of $2 ($1 projects): $(tail -c 300 "$RUN/probe-$1-$2.err")"; return 1; }
}

# spec_entry SIZE SERVER CONTAINER PORT AUTH: one server of a wrk comparison (measure.py rounds --spec).
spec_entry() {
  python3 -c 'import json, sys; n, s, cid, port, auth, urls = sys.argv[1:]
print(json.dumps({"label": s, "container": cid, "proxy_port": port, "auth": auth, "urls": json.load(open(urls))}))' \
    "$1" "$2" "$(container_id "$3")" "$4" "$5" "$RUN/results/urls-$1-$2.json"
}

# compare SIZE SPEC-LINES...: wrk on the three URLs, the servers taking turns in short rounds
# (--rounds of DURATION/ROUNDS seconds each, so each server gets DURATION seconds per URL).
compare() {
  local n=$1 spec=$RUN/wrk-spec-$1.json; shift
  ((${#@})) || return 0
  printf '{"servers": [%s]}\n' "$(IFS=,; echo "$*")" >"$spec"
  fg python3 "$BENCH/measure.py" rounds --spec "$spec" --rounds "$ROUNDS" --round-seconds "$ROUND_SECONDS" \
    --out-prefix "$RUN/results/wrk-$n" 2>"$RUN/wrk-$n.err" \
    || step_failed $? "wrk rounds ($n projects): $(tail -c 400 "$RUN/wrk-$n.err")"
}

# clients SIZE SERVER PORT AUTH: pip downloads, then the timed and counted installs ((c) has none).
clients() {
  local n=$1 s=$2 port=$3 auth=$4 creds=""
  [ -n "$auth" ] && creds="$BENCH_USER:$BENCH_PASSWORD@"
  if ((PIP_RUNS > 0)); then
    fg python3 "$BENCH/measure.py" pip --python "$PY" --runs "$PIP_RUNS" --tmp "$RUN" \
      --index-url "http://${creds}127.0.0.1:$port/simple/" --packages "$PIP_LIST" \
      --label "$s" --out "$RUN/results/pip-$n-$s.json" || step_failed $? "pip downloads from $s ($n projects)"
  fi
  [ "$s" = c ] || installs "$n" "$s" "http://${creds}127.0.0.1:$port/simple/" "$port"
}

# installs SIZE SERVER INDEX-URL PORT: cold uv and pip installs of tree-app, timed,
# then one of each through the counting proxy.
installs() {
  local n=$1 s=$2 index=$3 port=$4
  ((INSTALL_RUNS > 0)) || return 0
  fg "$PY" "$BENCH/installs.py" time --index-url "$index" --bindir "$CLIENTS_BIN" --runs "$INSTALL_RUNS" \
    --label "$s" --tmp "$RUN" --out "$RUN/results/install-$n-$s.json" || step_failed $? "timed installs from $s ($n projects)"
  fg "$PY" "$BENCH/installs.py" count --index-url "$index" --upstream "http://127.0.0.1:$port" \
    --bindir "$CLIENTS_BIN" --label "$s" --tmp "$RUN" --timed "$RUN/results/install-$n-$s.json" \
    --out "$RUN/results/count-$n-$s.json" || step_failed $? "counted installs from $s ($n projects)"
}

deploy_role() {  # name [extra-vars-file]
  local ct=$1 extra=()
  [ -n "${2:-}" ] && extra=(-e "@$2")
  local inv=$RUN/inventory-$ct.yml
  cat >"$inv" <<EOF
all:
  children:
    bench:
      hosts:
        $ct:
          ansible_connection: community.docker.docker
          ansible_python_interpreter: /usr/bin/python3
EOF
  (cd "$ROOT" && ANSIBLE_COLLECTIONS_PATH="$COLL:$ROOT/.collections" ANSIBLE_FORCE_COLOR=0 \
    ANSIBLE_RETRY_FILES_ENABLED=0 exec timeout "$DEPLOY_TIMEOUT" "$ROOT/.venv/bin/ansible-playbook" \
    -i "$inv" -e "@$RUN/deploy-vars.json" "${extra[@]}" "$BENCH/deploy.yml")
}

# What one bcrypt check costs here: (c) pays it on every request, (a) on downloads.
BCRYPT_MS=$("$PY" - "$RUN/htpasswd" <<'EOF'
import statistics, sys, time
import bcrypt
h = open(sys.argv[1]).read().split(":", 1)[1].strip().encode()
times = []
for _ in range(5):
    t0 = time.perf_counter()
    bcrypt.checkpw(b"not the password", h)
    times.append((time.perf_counter() - t0) * 1000)
print(round(statistics.median(times), 1))
EOF
)
cat >"$RUN/meta.json" <<EOF
{"run_id": "$RUN_ID", "projects": "$PROJECTS", "duration": $DURATION, "rounds": $ROUNDS, "round_seconds": $ROUND_SECONDS, "servers": "$SERVERS",
 "pip_runs": $PIP_RUNS, "flood": $FLOOD, "upstream_runs": $UPSTREAM_RUNS, "pip_packages": $PIP_PACKAGES, "install_runs": $INSTALL_RUNS, "scale": $SCALE,
 "uv": "$("$CLIENTS_BIN/uv" --version 2>/dev/null)", "pip": "$("$CLIENTS_BIN/pip" --version 2>/dev/null | cut -d' ' -f1-2)",
 "wrk": "wrk $(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?')",
 "nproc": $(nproc), "kernel": "$(uname -r)", "bcrypt_ms": $BCRYPT_MS,
 "loadavg": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "git": "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"}
EOF

for N in ${PROJECTS//,/ }; do
  ((N > 0)) || continue  # --projects 0: only the render-at-scale measurement
  log "data set: $N projects x 5 wheels + the tree-app dependency tree"
  DATA=$WORK/data-$N
  python3 "$BENCH/make_dataset.py" --projects "$N" --out "$DATA" --simple --tree
  PROJECT=$(printf 'bench-pkg-%04d' $(((N + 1) / 2)))
  PIP_LIST=$(python3 -c 'import sys; n, k = int(sys.argv[1]), int(sys.argv[2]); print(",".join(sorted({"bench-pkg-%04d" % (1 + i * n // k) for i in range(k)})))' "$N" "$PIP_PACKAGES")
  echo "{\"project\": \"$PROJECT\", \"pip_packages\": \"$PIP_LIST\"}" >"$RUN/results/dataset-$N.json"

  if want a; then
    ct=ppb-$RUN_ID-$N-a
    log "(a) baseline: pypiserver's systemd example"
    start "$ct" "$IMG_A" -p 127.0.0.1::8080 \
      -v "$DATA/packages":/var/www/pypi:ro -v "$RUN/htpasswd":/etc/bench/htpasswd:ro
    port=$(host_port "$ct" 8080)
    if probe "$N" a "$port" "$AUTH"; then
      compare "$N" "$(spec_entry "$N" a "$ct" "$port" "$AUTH")"
      clients "$N" a "$port" "$AUTH"
    else
      echo "(a) did not answer" >"$RUN/results/fail-$N-a.txt"
    fi
    stop "$ct"
  fi

  # (b), (c) and (c0) are up together and their wrk rounds take turns (compare), so a load that comes
  # or goes on the machine falls on all of them; an idle server costs next to nothing meanwhile.
  ct_b= ct_c= spec=() MEMORY_SAMPLER=
  if want b; then
    ct_b=ppb-$RUN_ID-$N-b
    log "(b) the role privatepypi.aws.pypiserver, defaults (deploying, log: $RUN/deploy-$N.log)"
    rm -rf "$RUN/b-$N-pypi" "$RUN/b-$N-cache"; cp -a "$DATA/packages" "$RUN/b-$N-pypi"; mkdir -p "$RUN/b-$N-cache"
    # The rendered pages (/var/cache/pypiserver) on a bind mount as the ceiling's are: in the
    # container's overlay file system, which no host has, each page's path walk and open cost (b)
    # about 3 % more of nginx's CPU than the ceiling paid for the same page (perf: ovl_* functions).
    start "$ct_b" "$IMAGE" -p 127.0.0.1::8080 -v "$RUN/b-$N-pypi":/var/pypi -v "$RUN/b-$N-cache":/var/cache/pypiserver
    t0=$(date +%s)
    if booted "$ct_b" && fg deploy_role "$ct_b" >"$RUN/deploy-$N.log" 2>&1; then
      echo "$(($(date +%s) - t0))" >"$RUN/results/deploy-$N-b.txt"
      log "(b) deployed in $(($(date +%s) - t0)) s"
      docker exec "$ct_b" sh -c 'cut -d: -f2 /etc/pypiserver/htpasswd | cut -c1-7' \
        >"$RUN/results/hash-$N-b.txt" 2>/dev/null || true
      port_b=$(host_port "$ct_b" 8080)
      # (b)'s memory, whole and per unit, from here to the end of its flood: what an instance must hold
      "$PY" "$BENCH/measure.py" memory --container "$(container_id "$ct_b")" --out "$RUN/results/memory-$N-b.json" &
      MEMORY_SAMPLER=$!
      if probe "$N" b "$port_b" "$AUTH"; then
        spec+=("$(spec_entry "$N" b "$ct_b" "$port_b" "$AUTH")")
      else
        echo "(b) did not answer after its deployment" >"$RUN/results/fail-$N-b.txt"
      fi
      # The ceiling serves exactly what (b) rendered: its pages and its store (with any sidecar files).
      rm -rf "$RUN/b-$N-pages" && mkdir -p "$RUN/b-$N-pages" \
        && docker cp "$ct_b:/var/cache/pypiserver/pages/simple" "$RUN/b-$N-pages/simple" \
        && chmod -R a+rX "$RUN/b-$N-pages" "$RUN/b-$N-pypi" || rm -rf "$RUN/b-$N-pages"
    else
      log "(b) deployment FAILED; last lines of $RUN/deploy-$N.log:"
      grep -E 'fatal:|FAILED|ERROR|msg' "$RUN/deploy-$N.log" | tail -15 || tail -30 "$RUN/deploy-$N.log"
      { echo "deployment failed:"; grep -E 'fatal:|ERROR' "$RUN/deploy-$N.log" | tail -3; } \
        >"$RUN/results/fail-$N-b.txt"
      stop "$ct_b"; ct_b=
    fi
  fi

  if want c || want c0; then
    ct_c=ppb-$RUN_ID-$N-c
    pages=$DATA/simple store=$DATA/packages origin="make_dataset.py's PEP 503 pages (no (b) in this run)"
    if [ -d "$RUN/b-$N-pages/simple" ]; then
      pages=$RUN/b-$N-pages/simple store=$RUN/b-$N-pypi origin="(b)'s rendered pages and store"
    fi
    echo "$origin" >"$RUN/results/ceiling-source-$N.txt"
    log "(c0) ceiling: nginx, no auth, serving $origin; (c) the same with bcrypt per request"
    start "$ct_c" "$IMG_C" -p 127.0.0.1::8080 -p 127.0.0.1::8081 \
      -v "$store":/srv/bench/packages:ro -v "$pages":/srv/bench/simple:ro \
      -v "$RUN/htpasswd":/etc/bench/htpasswd:ro
    port_c=$(host_port "$ct_c" 8080) port_c0=$(host_port "$ct_c" 8081)
    if want c; then
      if probe "$N" c "$port_c" "$AUTH"; then spec+=("$(spec_entry "$N" c "$ct_c" "$port_c" "$AUTH")")
      else echo "(c) did not answer" >"$RUN/results/fail-$N-c.txt"; fi
    fi
    if want c0; then
      if probe "$N" c0 "$port_c0" ""; then spec+=("$(spec_entry "$N" c0 "$ct_c" "$port_c0" "")")
      else echo "(c0) did not answer" >"$RUN/results/fail-$N-c0.txt"; fi
    fi
  fi

  if ((${#spec[@]})); then
    log "wrk: $(IFS=' '; for e in "${spec[@]}"; do python3 -c 'import json,sys; print(json.loads(sys.argv[1])["label"], end=" ")' "$e"; done)in turn, $ROUNDS rounds of $ROUND_SECONDS s per URL"
    compare "$N" "${spec[@]}"
  fi
  [ -s "$RUN/results/urls-$N-b.json" ] && clients "$N" b "$port_b" "$AUTH"
  want c && [ -s "$RUN/results/urls-$N-c.json" ] && clients "$N" c "$port_c" "$AUTH"
  want c0 && [ -s "$RUN/results/urls-$N-c0.json" ] && clients "$N" c0 "$port_c0" ""

  if [ -n "$ct_b" ] && ((FLOOD > 0)) && [ -s "$RUN/results/urls-$N-b.json" ]; then
    log "(b) flood: $FLOOD distinct bad credentials beside a cached user"
    # The user reads through the published port, as for wrk; the flood comes by another way,
    # the container's address on Docker's host-only bridge: through the same docker-proxy,
    # the user's requests would wait behind the flood's in that one user-space process, which
    # no real network puts between an attacker and a user.
    project=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["project"])' "$RUN/results/urls-$N-b.json")
    fg python3 "$BENCH/measure.py" flood --auth "$AUTH" --total "$FLOOD" --out "$RUN/results/flood-$N-b.json" \
      --flood-user "$BENCH_USER" \
      --url "$project" --flood-url "http://$(container_ip "$ct_b"):8080/${project#http://*/}" \
      2>"$RUN/flood-$N.err" || step_failed $? "flood against (b) ($N projects): $(tail -c 300 "$RUN/flood-$N.err")"
  fi
  if [ -n "$MEMORY_SAMPLER" ]; then
    kill -TERM "$MEMORY_SAMPLER" 2>/dev/null || true
    wait "$MEMORY_SAMPLER" || step_failed $? "(b)'s memory sampler ($N projects)"
    MEMORY_SAMPLER=
  fi
  for ct in "$ct_b" "$ct_c"; do
    if [ -n "$ct" ]; then stop "$ct"; fi
  done
  ct_b= ct_c=  # the public-packages part names its own
  ((KEEP)) || rm -rf "$RUN/b-$N-pypi" "$RUN/b-$N-pages" "$RUN/b-$N-cache"

  if want d; then
    ct=ppb-$RUN_ID-$N-d
    log "(d) devpi-server: the tree only (uploading $N x 5 files through its API would take minutes)"
    start "$ct" "$IMG_D" -p 127.0.0.1::3141
    port=$(host_port "$ct" 3141)
    if booted "$ct" && fg "$PY" "$BENCH/measure.py" devpi-load --base "http://127.0.0.1:$port" \
        --twine "$CLIENTS_BIN/twine" --files "$DATA/packages" --prefix tree_ >"$RUN/devpi-load-$N.log" 2>&1; then
      installs "$N" d "http://127.0.0.1:$port/root/bench/+simple/" "$port"
    else
      { echo "devpi did not take the data set:"; tail -5 "$RUN/devpi-load-$N.log"; } >"$RUN/results/fail-$N-d.txt"
    fi
    stop "$ct"
  fi
done

# ------------------------------------------------------ public packages (issue 16)
# Every path of this part runs at once (idle servers cost little), and their timed installs take
# turns, one round of each path after the other: on a machine shared with other people's jobs, the
# load moves within minutes, and paths measured one block after another would compare loads.
# up_installs SERVER INDEX-URL cold|warm|warm-up [RESET-COMMAND]: one round (each client once) added
# to the path's results; the stand-in's requests are counted per run, and a run that is not what it
# claims fails the step.
up_installs() {
  local s=$1 index=$2 state=$3 reset=${4:-} opts=(--append --runs 1 --expect "$3") err=$RUN/upstream-$1-$3.err
  local out=$RUN/results/upstream-$s-$state.json
  if [ "$state" = warm-up ]; then  # fills the server's cache with each client's own install, not timed
    opts=(--runs 0 --warmup --expect warm) out=$RUN/upstream-warmup-$s.json
  fi
  [ -n "$reset" ] && opts+=(--reset "$reset")
  fg "$PY" "$BENCH/installs.py" time --index-url "$index" --requirement pub-app --expect-installed 30 \
    --bindir "$CLIENTS_BIN" --label "$s" --tmp "$RUN" --counts-url "$ST_CONTROL" "${opts[@]}" --out "$out" 2>"$err" \
    || step_failed $? "public tree: $state installs from $s: $(tail -c 600 "$err" | tr '\n' ' ')"
}
# up_latency SERVER INDEX-URL [USER:PASSWORD]: ms per page, pages asked one at a time on one connection
up_latency() {
  fg python3 "$BENCH/upstream_tree.py" latency --index "$2" --user "${3:-}" --out "$RUN/results/upstream-latency-$1.json" \
    2>"$RUN/upstream-latency-$1.err" || step_failed $? "public tree: page latency of $1: $(tail -c 300 "$RUN/upstream-latency-$1.err")"
}

if ((UPSTREAM_RUNS > 0)); then
  declare -A UP_INDEX=() UP_RESET=()
  st=ppb-$RUN_ID-upstream
  log "public tree: the upstream stand-in serving pub-app (30 projects x 4 versions)"
  # no systemd here: the image's python3 runs the stand-in (standard library only) from the checkout
  docker run -d --name "$st" --label "$LABEL" -p 127.0.0.1::8080 -p 127.0.0.1::8081 -v "$ROOT":/src:ro \
    -e PYTHONDONTWRITEBYTECODE=1 "$IMAGE" python3 /src/benchmarks/upstream_tree.py serve >/dev/null
  ST_CONTROL=http://127.0.0.1:$(host_port "$st" 8081)
  # (b) and (d) reach it at its address on Docker's bridge (a project container), clients through 127.0.0.1
  ST_URL=http://$(container_ip "$st"):8080/simple/
  if python3 "$BENCH/upstream_tree.py" wait --url "$ST_CONTROL/counts" 2>"$RUN/upstream-standin.err"; then
    UP_INDEX[s]=http://127.0.0.1:$(host_port "$st" 8080)/simple/
  else
    step_failed 1 "public tree: the stand-in did not start: $(cat "$RUN/upstream-standin.err"; docker logs --tail 5 "$st" 2>&1)"
  fi

  if [ -n "${UP_INDEX[s]:-}" ] && want b; then
    ct_b=ppb-$RUN_ID-up-b
    log "(b) the role with the upstream on, pointing at the stand-in (log: $RUN/deploy-upstream.log)"
    rm -rf "$RUN/b-up-pypi"; mkdir -p "$RUN/b-up-pypi"
    printf '{"pypiserver_upstream_enabled": true, "pypiserver_upstream_url": "%s"}\n' "$ST_URL" >"$RUN/upstream-vars.json"
    start "$ct_b" "$IMAGE" -p 127.0.0.1::8080 -v "$RUN/b-up-pypi":/var/pypi
    if booted "$ct_b" && fg deploy_role "$ct_b" "$RUN/upstream-vars.json" >"$RUN/deploy-upstream.log" 2>&1; then
      port_b=$(host_port "$ct_b" 8080)
      UP_INDEX[b]="http://$BENCH_USER:$BENCH_PASSWORD@127.0.0.1:$port_b/simple/"
      # cold: what the upstream service kept (pages, files, their sidecars) removed before each run
      up_dir=/var/pypi/.privatepypi/upstream
      UP_RESET[b]="docker exec $ct_b find $up_dir/pages $up_dir/files $up_dir/sidecars -mindepth 1 -delete"
    else
      step_failed 1 "public tree: (b) with the upstream on: deployment: $(grep -E 'fatal:|ERROR' "$RUN/deploy-upstream.log" | tail -3 | tr '\n' ' ')"
    fi
  fi

  if [ -n "${UP_INDEX[s]:-}" ] && want d; then
    ct_d=ppb-$RUN_ID-up-d
    log "(d) devpi-server, a mirror index of the stand-in"
    start "$ct_d" "$IMG_D" -p 127.0.0.1::3141
    # A mirror index made anew has nothing cached. No project list (the stand-in has no /simple/
    # root page); the stand-in's PEP 658 metadata files offered (devpi's best case).
    printf '%s\n' "docker exec $ct_d sh -ec 'export DEVPI_CLIENTDIR=/tmp/devpi-client; d=/opt/devpi/bin/devpi" \
      '$d use http://127.0.0.1:3141 >/dev/null; $d login root --password bench-root-password >/dev/null' \
      '$d index -y --delete root/upstream >/dev/null 2>&1 || true' \
      "\$d index -c root/upstream type=mirror mirror_url=$ST_URL mirror_no_project_list=true mirror_provides_core_metadata=true >/dev/null'" \
      >"$RUN/devpi-mirror.sh"
    base_d="http://127.0.0.1:$(host_port "$ct_d" 3141)"
    if booted "$ct_d" && python3 "$BENCH/upstream_tree.py" wait --url "$base_d/+api" 2>"$RUN/upstream-d.err" \
        && sh "$RUN/devpi-mirror.sh" 2>>"$RUN/upstream-d.err"; then
      UP_INDEX[d]=$base_d/root/upstream/+simple/
      UP_RESET[d]="sh $RUN/devpi-mirror.sh"
    else
      step_failed 1 "public tree: devpi's mirror index: $(tail -3 "$RUN/upstream-d.err" | tr '\n' ' ')"
    fi
  fi

  up_paths() { local s; for s in "$@"; do [ -n "${UP_INDEX[$s]:-}" ] && echo "$s"; done; true; }
  [ -n "$(up_paths s b d)" ] && log "cold: $UPSTREAM_RUNS rounds of $(up_paths s b d | tr '\n' ' ')in turn"
  for round in $(seq 1 "$UPSTREAM_RUNS"); do
    for s in $(up_paths s b d); do up_installs "$s" "${UP_INDEX[$s]}" cold "${UP_RESET[$s]:-}"; done
  done
  [ -n "${UP_INDEX[s]:-}" ] && up_latency s "${UP_INDEX[s]}"

  for s in $(up_paths b d); do up_installs "$s" "${UP_INDEX[$s]}" warm-up; done
  if want c0; then
    # the ceiling's bytes: (b)'s pages as clients get them (JSON and HTML) and the files it stored
    rm -rf "$RUN/up-pages" "$RUN/up-files"
    if [ -z "${UP_INDEX[b]:-}" ]; then
      step_failed 1 "public tree: no ceiling: it serves what (b) answered, and (b) gave nothing (--servers without b, or (b) failed)"
    elif python3 "$BENCH/upstream_tree.py" pages --index "http://127.0.0.1:$port_b/simple/" \
        --user "$BENCH_USER:$BENCH_PASSWORD" --out "$RUN/up-pages/simple" >"$RUN/upstream-pages.log" 2>&1 \
        && cp -a "$RUN/b-up-pypi/.privatepypi/upstream/files" "$RUN/up-files" \
        && chmod -R a+rX "$RUN/up-pages" "$RUN/up-files"; then
      echo "(b)'s upstream pages (as its clients got them) and the files it stored" >"$RUN/results/ceiling-source-upstream.txt"
      ct_c=ppb-$RUN_ID-up-c0
      log "(c0) ceiling: nginx, no auth, serving (b)'s upstream pages and stored files"
      start "$ct_c" "$IMG_C" -p 127.0.0.1::8081 \
        -v "$RUN/up-pages/simple":/srv/bench/simple:ro -v "$RUN/up-files":/srv/bench/upstream-files:ro
      index="http://127.0.0.1:$(host_port "$ct_c" 8081)/simple/"
      if booted "$ct_c" && python3 "$BENCH/upstream_tree.py" wait --url "${index}pub-app/" 2>"$RUN/upstream-c0.err"; then
        UP_INDEX[c0]=$index
      else
        step_failed 1 "public tree: the ceiling did not serve pub-app: $(cat "$RUN/upstream-c0.err")"
      fi
    else
      step_failed 1 "public tree: (b)'s pages for the ceiling: $(tail -2 "$RUN/upstream-pages.log" | tr '\n' ' ')"
    fi
  fi
  [ -n "$(up_paths b c0 d)" ] && log "warm: $UPSTREAM_RUNS rounds of $(up_paths b c0 d | tr '\n' ' ')in turn"
  for round in $(seq 1 "$UPSTREAM_RUNS"); do
    for s in $(up_paths b c0 d); do up_installs "$s" "${UP_INDEX[$s]}" warm; done
  done
  [ -n "${UP_INDEX[b]:-}" ] && up_latency b "http://127.0.0.1:$port_b/simple/" "$BENCH_USER:$BENCH_PASSWORD"
  [ -n "${UP_INDEX[c0]:-}" ] && up_latency c0 "${UP_INDEX[c0]}"
  [ -n "${UP_INDEX[d]:-}" ] && up_latency d "${UP_INDEX[d]}"
  for ct in "$st" "${ct_b:-}" "${ct_c:-}" "${ct_d:-}"; do
    if [ -n "$ct" ]; then stop "$ct"; fi
  done
  ((KEEP)) || rm -rf "$RUN/b-up-pypi" "$RUN/up-pages" "$RUN/up-files"
fi

if ((SCALE > 0)) && want b; then
  SP=$(((SCALE + 4) / 5))
  log "render at scale: the role on $SP projects x 5 wheels ($((SP * 5)) files)"
  DATA=$WORK/data-scale-$SP
  python3 "$BENCH/make_dataset.py" --projects "$SP" --out "$DATA"
  ct=ppb-$RUN_ID-scale
  rm -rf "$RUN/s-pypi"; cp -a "$DATA/packages" "$RUN/s-pypi"
  start "$ct" "$IMAGE" -p 127.0.0.1::8080 -v "$RUN/s-pypi":/var/pypi
  # The role's last task waits (bounded) for /health; on a large existing store that may answer
  # "not ready" until the first render is done. Services are up by then: measure anyway, and say so.
  deployed=0
  if booted "$ct"; then
    if fg deploy_role "$ct" >"$RUN/deploy-scale.log" 2>&1; then
      deployed=1
    elif grep -E '^TASK \[' "$RUN/deploy-scale.log" | tail -1 | grep -q 'answers its health check'; then
      deployed=1
      echo "the role's deployment stopped at its bounded wait for /health (not ready yet); measured from there" \
        >"$RUN/results/note-scale.txt"
    fi
  fi
  if ((deployed)); then
    fg "$PY" "$BENCH/scale.py" --container "$ct" --base "http://127.0.0.1:$(host_port "$ct" 8080)" \
      --user "$BENCH_USER" --password "$BENCH_PASSWORD" --projects "$SP" --twine "$CLIENTS_BIN/twine" \
      --tmp "$RUN" --store-bytes "$(du -sb "$RUN/s-pypi" | cut -f1)" --out "$RUN/results/scale.json" \
      2>"$RUN/scale.err" || { tail -3 "$RUN/scale.err" >"$RUN/results/fail-scale.txt"; step_failed 1 "render at scale: $(cat "$RUN/results/fail-scale.txt")"; }
  else
    { echo "deployment failed:"; grep -E 'fatal:|ERROR' "$RUN/deploy-scale.log" | tail -3; } >"$RUN/results/fail-scale.txt"
    step_failed 1 "render at scale: deployment"
  fi
  stop "$ct"; ((KEEP)) || rm -rf "$RUN/s-pypi"
fi

echo "$(($(date +%s) - started))" >"$RUN/results/total-seconds.txt"
python3 "$BENCH/report.py" "$RUN" >"$WORK/results.md"
cp "$WORK/results.md" "$RUN/results.md"
echo
cat "$WORK/results.md"
echo
log "results: $WORK/results.md (raw data: $RUN)"
# a peer that failed, or a measurement step that did: the run fails, saying which and why
for fail in "$RUN"/results/fail-*.txt; do
  [ -e "$fail" ] && echo "$(basename "$fail" .txt): $(tr '\n' ' ' <"$fail")" >>"$RUN/failed-steps.txt"
done
if [ -s "$RUN/failed-steps.txt" ]; then
  echo "run.sh: FAILED steps:" >&2
  sort -u "$RUN/failed-steps.txt" >&2
  exit 1
fi
