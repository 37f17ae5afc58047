"""Start-up step of ``run.sh`` / ``run.bat``: put the shipped sample data into the ``default`` project when that
project has no photos yet, so the app opens on something to try. Never touches a project that has data."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genmix_core.data import open_project, scan_split, use_sample_data  # noqa: E402


def main() -> int:
    project = open_project("default", create=True)
    if len(scan_split(project, "train")):
        return 0
    report = use_sample_data(project)
    print(f"Sample data loaded into the project 'default': {len(report.added)} photos.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
