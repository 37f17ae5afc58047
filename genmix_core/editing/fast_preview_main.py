"""``python -m genmix_core.editing.fast_preview_main --run DIR``: the process that compiles the pages' preview
shapes (:mod:`genmix_core.editing.fast_preview`; a module of its own, since the package imports that one)."""

from genmix_core.editing.fast_preview import main

if __name__ == "__main__":
    raise SystemExit(main())
