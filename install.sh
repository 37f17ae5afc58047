#!/usr/bin/env bash
# Installs everything GenMix Workbench needs into ./.venv:   bash install.sh
# Works offline from a local package index too (pip honours PIP_INDEX_URL / PIP_FIND_LINKS).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-dev.txt
# The end-to-end browser test drives Debian's chromium (no browser download). Japanese fonts make the
# Japanese UI readable in screenshots. Only where apt-get runs as root; elsewhere that one test is skipped.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk
fi
echo "GenMix Workbench installed. Start it with:  .venv/bin/streamlit run app.py"
