"""``python -m genmix_core.search``: the recipe search's command line (see :mod:`genmix_core.search.cli`)."""

from genmix_core.search.cli import main

raise SystemExit(main())
