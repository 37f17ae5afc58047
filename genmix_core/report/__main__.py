"""``python -m genmix_core.report``: export a run's report (see :mod:`genmix_core.report.cli`)."""

from genmix_core.report.cli import main

raise SystemExit(main())
