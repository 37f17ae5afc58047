#!/usr/bin/env bash
# Installs GenMix Workbench into ./.venv:   bash install.sh          (what the app needs; run.sh calls it)
#                                           bash install.sh --test   (also the test tools; test.sh calls it)
# Works offline from a local package index too (pip honours PIP_INDEX_URL / PIP_FIND_LINKS).
# Safe to run again: it keeps a working .venv, and installs system packages only when one is missing.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
WITH_TESTS=0
[ "${1:-}" = "--test" ] && WITH_TESTS=1
# How long to wait for another apt/dpkg process (unattended-upgrades, a colleague's install) to finish.
APT_LOCK_TIMEOUT="${APT_LOCK_TIMEOUT:-1200}"

# A .venv left half-made by an interrupted run has no working pip: make it again.
if ! { [ -x .venv/bin/python ] && .venv/bin/python -m pip --version >/dev/null 2>&1; }; then
  rm -rf .venv
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
touch .venv/.genmix-runtime   # run.sh: the runtime is installed (an interrupted install leaves no marker)
[ "$WITH_TESTS" = 1 ] && .venv/bin/python -m pip install -q -r requirements-dev.txt

# With --test: the end-to-end browser test drives Debian's chromium (no browser download). Japanese fonts make the
# Japanese UI readable in screenshots. Only where apt-get runs as root; elsewhere that one test is skipped.
APT_PACKAGES=(chromium fonts-noto-cjk)

missing_packages() {
  local pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || echo "$pkg"
  done
}

wait_for_lock() {
  # Blocks until no other process holds the apt lock file $1 (apt takes it with fcntl, as lockf does here),
  # or fails after APT_LOCK_TIMEOUT seconds. The lock is released again when this exits.
  .venv/bin/python - "$1" "$APT_LOCK_TIMEOUT" <<'PYEOF'
import fcntl, os, signal, sys
signal.alarm(int(sys.argv[2]))
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o640)
fcntl.lockf(fd, fcntl.LOCK_EX)
PYEOF
}

apt_update() {
  # apt-get install waits for dpkg's locks (DPkg::Lock::Timeout), but apt-get update (apt 2.6) fails at once
  # when another process holds the package lists' lock. Wait for that lock, then update; if another apt took
  # the lock in between, wait again.
  local lists_dir lists_lock log
  eval "$(apt-config shell lists_dir Dir::State::lists/d)"
  lists_lock="${lists_dir:-/var/lib/apt/lists/}lock"
  log="$(mktemp)"
  while true; do
    if ! wait_for_lock "$lists_lock"; then
      echo "install.sh: $lists_lock is still held after ${APT_LOCK_TIMEOUT} s" >&2
      return 1
    fi
    if apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" update -q 2>&1 | tee "$log"; then
      break
    fi
    grep -q '^E: Could not get lock' "$log" || { rm -f "$log"; return 1; }
  done
  rm -f "$log"
}

if [ "$WITH_TESTS" = 1 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  mapfile -t MISSING < <(missing_packages)
  if [ "${#MISSING[@]}" -gt 0 ]; then
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" install -y -q "${MISSING[@]}"
  fi
fi
echo "GenMix Workbench installed. Start it with:  bash run.sh   (then open http://127.0.0.1:8501)"
