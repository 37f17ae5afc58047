"""``python -m genmix_core.train``: Train & Compare's command line (see :mod:`genmix_core.train.cli`)."""

from genmix_core.train.cli import main

raise SystemExit(main())
