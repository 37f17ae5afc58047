#!/usr/bin/env bash
# GenMix Workbench, one command:   bash run.sh
# First use: installs into ./.venv (needs the package index once). Then, every time: loads the shipped sample
# data into the "default" project if that project is still empty, and starts the app on this PC only
# (127.0.0.1, no internet used). Open http://127.0.0.1:8501 in a browser; Ctrl+C here stops it.
set -euo pipefail
cd "$(dirname "$0")"
[ -f .venv/.genmix-runtime ] || bash install.sh
# No network at run time: diffusion models come from workspace/models/ or the local hub cache.
# (HF_HUB_OFFLINE=0 bash run.sh lets the app download a model it is asked for.)
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
.venv/bin/python scripts/first_run.py
PORT="${GENMIX_PORT:-8501}"
echo "GenMix Workbench: open http://127.0.0.1:${PORT} in your browser (Ctrl+C here stops it)."
exec .venv/bin/python -m streamlit run app.py --server.port "$PORT" "$@"
