#!/usr/bin/env bash
# Starts / stops the local AWS API emulator (tests/support/emulator.py: moto + shims) in the background.
#   scripts/emulator.sh start [PORT]   listens on $EMULATOR_HOST:PORT (default 172.28.0.1:5000),
#                                      waits until it answers, prints its URL
#   scripts/emulator.sh stop           stops the process recorded in the pid file
#   scripts/emulator.sh status
# The host address is the gateway of the project's docker network, so containers reach it too.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${EMULATOR_HOST:-172.28.0.1}
PORT=${2:-${EMULATOR_PORT:-5000}}
STATE=${EMULATOR_STATE_DIR:-/var/tmp/privatepypi-emulator}
PIDFILE=$STATE/emulator-$PORT.pid
LOG=$STATE/emulator-$PORT.log
PY=${EMULATOR_PYTHON:-.venv/bin/python}
URL="http://$HOST:$PORT"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
# A cheap probe: /moto-api/config is a few bytes whatever the emulator holds (data.json, the
# whole state, grows to megabytes and seconds with a stack in it, and timed out as "stopped").
answers() { "$PY" -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" "$URL/moto-api/config" >/dev/null 2>&1; }

case "${1:-}" in
  start)
    mkdir -p "$STATE"
    if running; then echo "$URL"; exit 0; fi
    # AWS managed policies (AmazonSSMManagedInstanceCore, ...) exist only with this set;
    # ACM certificates requested with DNS validation are issued at once.
    MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_ACM_VALIDATION_WAIT=${MOTO_ACM_VALIDATION_WAIT:-0} \
      nohup "$PY" -m tests.support.emulator -H "$HOST" -p "$PORT" >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 60); do
      if answers; then echo "$URL"; exit 0; fi
      running || break
      sleep 0.5
    done
    echo "emulator did not answer on $URL; last log lines:" >&2
    tail -20 "$LOG" >&2
    exit 1
    ;;
  stop)
    if running; then
      kill "$(cat "$PIDFILE")"
      for _ in $(seq 1 20); do running || break; sleep 0.25; done
    fi
    rm -f "$PIDFILE"
    ;;
  status)
    if running && answers; then echo "running: $URL (pid $(cat "$PIDFILE"))"; else echo "stopped"; exit 1; fi
    ;;
  *)
    echo "usage: $0 start|stop|status [PORT]" >&2
    exit 2
    ;;
esac
