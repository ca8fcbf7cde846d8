#!/usr/bin/env bash
# Azurite (the Azure Storage emulator) for the backup store suite: `start` installs a pinned
# version into .ci/npm-azurite (gitignored), runs its blob service on 127.0.0.1 with a throw-away
# data directory, waits until it answers and records its PID; `stop` ends exactly that process.
#
#   .ci/azurite.sh start   # prints the line `LIFEBOAT_TEST_AZURITE=http://127.0.0.1:PORT/devstoreaccount1`
#   .ci/azurite.sh stop
#
# Why 3.35.0: it is the newest release whose `engines` accepts Node 20 (3.36 needs >=21, 3.37
# needs >=22); `--disableTelemetry` exists since 3.34. Override with AZURITE_VERSION.
# The port is AZURITE_BLOB_PORT (default 10000).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
version="${AZURITE_VERSION:-3.35.0}"
port="${AZURITE_BLOB_PORT:-10000}"
pidfile="$here/azurite.pid"
datadir="$here/azurite-data"
logfile="$here/azurite.log"

install() {
  local installed=""
  if [ -f "$here/npm-azurite/node_modules/azurite/package.json" ]; then
    installed="$(node -p "require('$here/npm-azurite/node_modules/azurite/package.json').version")"
  fi
  if [ "$installed" != "$version" ]; then
    echo "azurite: installing azurite@$version into $here/npm-azurite" >&2
    npm install --prefix "$here/npm-azurite" --no-save --no-audit --no-fund --ignore-scripts \
      "azurite@$version" >&2
  fi
}

start() {
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "azurite: already running (pid $(cat "$pidfile"))" >&2
  else
    install
    rm -rf "$datadir"
    mkdir -p "$datadir"
    node "$here/npm-azurite/node_modules/azurite/dist/src/blob/main.js" \
      --blobHost 127.0.0.1 --blobPort "$port" --location "$datadir" \
      --disableTelemetry --silent --skipApiVersionCheck --loose \
      >"$logfile" 2>&1 &
    echo $! >"$pidfile"
    # Azurite answers any request once listening (400 for a bare GET): wait for any HTTP status.
    for _ in $(seq 1 100); do
      if curl -s -o /dev/null "http://127.0.0.1:$port/devstoreaccount1?comp=list"; then
        break
      fi
      if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "azurite: exited during start-up; log follows" >&2
        cat "$logfile" >&2
        rm -f "$pidfile"
        exit 1
      fi
      sleep 0.1
    done
    if ! curl -s -o /dev/null "http://127.0.0.1:$port/devstoreaccount1?comp=list"; then
      echo "azurite: did not answer on 127.0.0.1:$port within 10 s" >&2
      exit 1
    fi
  fi
  echo "LIFEBOAT_TEST_AZURITE=http://127.0.0.1:$port/devstoreaccount1"
}

stop() {
  if [ -f "$pidfile" ]; then
    local pid
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
  fi
  rm -rf "$datadir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
