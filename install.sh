#!/usr/bin/env bash
# Installs GenMix Workbench into ./.venv:   bash install.sh          (what the app needs; run.sh calls it)
#                                           bash install.sh --test   (also the test tools; test.sh calls it)
# Works offline from a local package index too (pip honours PIP_INDEX_URL / PIP_FIND_LINKS).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
WITH_TESTS=0
[ "${1:-}" = "--test" ] && WITH_TESTS=1
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
touch .venv/.genmix-runtime   # run.sh: the runtime is installed (an interrupted install leaves no marker)
[ "$WITH_TESTS" = 1 ] && .venv/bin/python -m pip install -q -r requirements-dev.txt
# The end-to-end browser test drives Debian's chromium (no browser download). Japanese fonts make the
# Japanese UI readable in screenshots. Only where apt-get runs as root; elsewhere that one test is skipped.
if [ "$WITH_TESTS" = 1 ] && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk
fi
echo "GenMix Workbench installed. Start it with:  bash run.sh   (then open http://127.0.0.1:8501)"
