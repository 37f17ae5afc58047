"""``python -m genmix_core.generate``: the generation job's command line (see :mod:`genmix_core.generate.cli`)."""

from genmix_core.generate.cli import main

raise SystemExit(main())
