#!/usr/bin/env bash
# The tests, from a fresh clone:   bash test.sh   (what CI runs; extra arguments go to pytest)
# Installs the app and the test tools (pytest, Playwright; Debian chromium for the browser tests, as root),
# then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")"
bash install.sh --test
exec .venv/bin/python -m pytest "$@"
