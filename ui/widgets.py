"""Drawing helpers shared by the pages: error boxes, image grids and the live job panel."""

from __future__ import annotations

import hashlib
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

import streamlit as st
from PIL import Image, ImageOps

from genmix_core.errors import UserError
from genmix_core.fileio import DISK_ERRNOS, io_error
from genmix_core.jobs import ACTIVE, JobProgress, log_tail, read_job, request_cancel
from ui.state import lang, show_run_in_url, t

JOB_REFRESH_SECONDS = 1.0


def show_error(exc: BaseException) -> None:
    """Show an error in the session language.

    A :class:`UserError` is the user's to fix: its localised message is the whole story. Anything else is a
    bug or an environment problem: a short generic text, with the technical details folded away for the
    ML engineer who will read them. A disk or permission failure (full, read-only workspace ...) is the user's
    to fix too, and gets its message.
    """
    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
        exc = io_error(exc)
    if isinstance(exc, UserError):
        show_text(exc.message(lang()), exc.params.get("command"), st.error)
        return
    st.error(t("ui.error.unexpected", kind=type(exc).__name__))
    with st.expander(t("ui.error.details")):
        st.code("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)), language=None)


# Markdown would eat these (a ``*`` pair turns text italic); "_" inside words and "<" (raw HTML is off) are safe.
_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\*`~$[]"})


def plain(text: str) -> str:
    """``text`` with Markdown's special characters escaped: shown exactly as written (a ``*`` stays a ``*``)."""
    return str(text).translate(_MARKDOWN)


def show_text(text: str, command: str | None = None, show: Callable[[str], Any] = st.info) -> None:
    """A message box whose text is shown as written; a command in it goes into a code block below, which
    copies exactly (Markdown would eat its ``*``)."""
    if command and command in text:
        text = text.replace(command, t("ui.error.command_below"))
    show(plain(text))
    if command:
        st.code(command, language="bash")


def localize_uploader(types: Iterable[str]) -> None:
    """Streamlit draws the file uploader's button and size hint in English only (issue #13500); on a page in
    another language, CSS hides them and shows the catalog's text instead (call before the uploader)."""
    if lang() == "en":
        return
    shown = ", ".join(dict.fromkeys(x.upper().replace("JPEG", "JPG").replace("TIFF", "TIF") for x in types))
    limits = t("ui.uploader.limits", mb=st.get_option("server.maxUploadSize"), types=shown)

    def css(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    zone = '[data-testid="stFileUploaderDropzone"]'
    st.html(f"""<style>
{zone} button [data-testid="stMarkdownContainer"] p {{display: none;}}
{zone} button [data-testid="stMarkdownContainer"]::after {{content: {css(t("ui.uploader.button"))};}}
{zone} [data-testid="stFileUploaderDropzoneInstructions"] span {{display: none;}}
{zone} [data-testid="stFileUploaderDropzoneInstructions"] > div::after {{content: {css(limits)};
  font-size: 0.875rem; opacity: 0.7;}}
</style>""")


def image_grid(items: Iterable[tuple[Any, str]], cols: int = 6) -> None:
    """Draw images in rows of ``cols`` columns.

    Args:
        items: ``(image, caption)`` pairs; the image is a PIL image or a path to an image file.
        cols: columns per row (at least 1).
    """
    items = list(items)
    cols = max(1, int(cols))
    for start in range(0, len(items), cols):
        row = st.columns(cols)
        for column, (image, caption) in zip(row, items[start:start + cols]):
            with column:
                if isinstance(image, (str, Path)):
                    image = str(image)
                st.image(image, caption=caption, width="stretch")


def _job_text(key: str, fallback: str, params: dict[str, Any]) -> str:
    return t(key, **params) if key else fallback


def duration(seconds: float) -> str:
    """``"45 s"``, ``"7 min"``, ``"1 h 20 min"`` (``"45 秒"`` …) in the session language; minutes rounded up."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return t("ui.time.seconds", n=max(1, int(round(seconds))))
    minutes = int(-(-seconds // 60))
    if minutes < 60:
        return t("ui.time.minutes", n=minutes)
    return t("ui.time.hours", h=minutes // 60, m=minutes % 60)


def _draw_job(job: JobProgress, run_dir: Path, key: str) -> None:
    import time

    from genmix_core.costs import remaining_seconds

    status_text = t(f"ui.job.status.{job.status}")
    if (job.extra or {}).get("progress_unit") == "seconds":   # planned seconds: show a percentage
        text = t("ui.job.progress_percent", status=status_text, percent=int(job.fraction * 100))
    else:
        text = t("ui.job.progress", status=status_text, done=job.done, total=job.total)
    st.progress(job.fraction, text=text)
    message = _job_text(job.message_key, job.message, job.message_params)
    if message:
        st.caption(message)
    if job.status in ACTIVE:
        elapsed = duration(time.time() - job.started) if job.started else "–"
        left = remaining_seconds(job)
        st.caption(t("ui.job.time", elapsed=elapsed, left=duration(left)) if left is not None
                   else t("ui.job.time_unknown", elapsed=elapsed))
    elif job.status == "done" and job.started and job.updated:
        st.caption(t("ui.job.time_total", elapsed=duration(job.updated - job.started)))
    if job.status in ACTIVE:
        if st.button(t("ui.job.cancel"), key=f"{key}_cancel"):
            request_cancel(run_dir)
            st.toast(t("ui.job.cancel_requested"))
    elif job.status == "failed":
        st.error(_job_text(job.error_key, job.error, job.error_params) or t("ui.job.failed_no_reason"))
        with st.expander(t("ui.job.log")):
            st.code(log_tail(run_dir) or t("ui.job.log_empty"), language=None)
    elif job.status == "interrupted":
        st.warning(t("ui.job.interrupted_hint"))
    elif job.status == "cancelled":
        st.info(t("ui.job.cancelled_hint"))


def job_panel(run_dir: str | Path, key: str) -> JobProgress | None:
    """Progress of the job in ``run_dir``: bar, status, message, Cancel button, and the log if it failed.

    While the job runs, the panel is a fragment that redraws itself every second (clicks elsewhere on the
    page do not stop the job: it runs in its own process). When the job finishes, the whole page reruns
    once so that it can show the results.

    Args:
        run_dir: the job's run folder (holds ``job.json``).
        key: unique key for this panel on the page (prefix it with the page, e.g. ``"gen_job"``).

    Returns:
        The job state read at this run, or None when the folder holds no job yet.
    """
    run_dir = Path(run_dir)
    job = read_job(run_dir)
    if job is None:
        return None
    if job.status not in ACTIVE:
        _draw_job(job, run_dir, key)
        return job

    @st.fragment(run_every=JOB_REFRESH_SECONDS, key=f"{key}_fragment")
    def _live() -> None:
        current = read_job(run_dir)
        if current is None:
            return
        if current.status not in ACTIVE:
            st.rerun(scope="app")
        _draw_job(current, run_dir, key)

    _live()
    return job


def run_picker(runs: Iterable[str | Path], label: str, key: str, session_key: str) -> Path:
    """A select box over run folders, each labelled with its job status; the choice is kept in the session.

    The run remembered in ``st.session_state[session_key]`` (a folder path) is preselected when it is still
    listed, else the first run (``list_runs`` gives the newest first). The chosen folder is written back to
    ``session_key``, so other pages and a later visit open the same run.

    Args:
        runs: run folders, in display order; at least one.
        label: the select box's label.
        key: widget key prefix (prefix it with the page, e.g. ``"gen_run_pick"``); the widget's key is
            ``f"{key}_<8 hex digits>"``, changing with the runs' status labels.
        session_key: shared session key holding the current run's path (e.g. ``ui.state.KEY_GEN_RUN``).

    Returns:
        The chosen run folder.
    """
    by_name = {Path(r).name: Path(r) for r in runs}
    names = list(by_name)
    current = st.session_state.get(session_key)
    index = names.index(Path(current).name) if current and Path(current).name in names else 0
    labels = {}
    for name, run_dir in by_name.items():
        job = read_job(run_dir)
        labels[name] = f"{name} ({t('ui.job.status.' + job.status)})" if job else name
    # The status labels are part of the widget key: with a fixed key Streamlit keeps the widget's identity and
    # the browser went on showing "(Running)" after the job had finished. A new key per status redraws it;
    # the choice itself survives in ``session_key``.
    fingerprint = hashlib.sha1("\n".join(labels[n] for n in names).encode("utf-8")).hexdigest()[:8]
    chosen = by_name[st.selectbox(label, names, index=index, key=f"{key}_{fingerprint}", format_func=labels.get)]
    st.session_state[session_key] = str(chosen)
    show_run_in_url(chosen.name)
    return chosen


def job_runs(runs: list[Path], *, ns: str, session_key: str, settings_form: Callable[[], None],
             resume_run: Callable[[Path], object],
             notes: Callable[[JobProgress | None], None] | None = None) -> Path:
    """The part every job page shares below its title: the settings panel, the run picker, the job's progress
    and a Resume button. Stops the page (after an info line) while the project has no run of this job yet.

    Args:
        runs: the page's run folders, newest first (``jobs.list_runs`` or a page's own lister).
        ns: the page's catalog namespace: ``<ns>.page.settings`` (panel title), ``<ns>.page.no_runs``,
            ``<ns>.page.run`` (picker label) and ``<ns>.page.resume`` (button) are its texts; it is also the
            widget-key prefix: ``<ns>_run_pick``, ``<ns>_job``, ``<ns>_resume``.
        session_key: where the chosen run is kept (:func:`run_picker`).
        settings_form: draws the settings and the Start button inside the panel.
        resume_run: starts the chosen run again with its recorded settings.
        notes: draws what the page says about the job between its progress and the Resume button.

    Returns:
        The chosen run folder.
    """
    # Open while the project has no run yet. Decided from the folders on disk, not from a value this page changes
    # itself, so the panel stays open (or shut) while the user changes settings in it.
    with st.expander(t(f"{ns}.page.settings"), expanded=not runs):
        settings_form()
    if not runs:
        st.info(t(f"{ns}.page.no_runs"))
        st.stop()
    run_dir = run_picker(runs, t(f"{ns}.page.run"), key=f"{ns}_run_pick", session_key=session_key)
    job = job_panel(run_dir, key=f"{ns}_job")
    if notes is not None:
        notes(job)
    resume_button(job, t(f"{ns}.page.resume"), f"{ns}_resume", lambda: resume_run(run_dir))
    return run_dir


DATA_PAGE = "pages/1_data.py"


RESUMABLE = ("interrupted", "cancelled", "failed")


def resume_button(job: JobProgress | None, label: str, key: str, start: Callable[[], object]) -> None:
    """A button that restarts a run whose process ended early; the worker skips what is already done.

    ``start`` launches the run again with its recorded settings. On success the page reruns to show the live
    job; on failure the error stays on screen (no rerun that would wipe it).
    """
    if job is None or job.status not in RESUMABLE or not st.button(label, key=key):
        return
    try:
        start()
    except Exception as exc:
        show_error(exc)
        return
    st.rerun()


def go_to_page_button(page: str, label: str, key: str, **kwargs: Any) -> None:
    """A button that switches to ``page`` (a file registered in ``app.py``'s navigation)."""
    if st.button(label, key=key, **kwargs):
        st.switch_page(page)


def empty_project_hint(key: str) -> None:
    """Tell the user the project has no training photos yet, with a button to the Data page."""
    st.info(t("ui.empty.no_data"))
    go_to_page_button(DATA_PAGE, t("ui.empty.go_data"), key=key, type="primary", icon="📁")


def localized(value: Any, fallback: str = "") -> str:
    """A ``{en: ..., ja: ...}`` mapping (as in prompt-set titles) in the session language, or ``str(value)``."""
    if isinstance(value, dict):
        return str(value.get(lang()) or value.get("en") or next(iter(value.values()), fallback))
    return str(value) if value else fallback


def framed(image: Image.Image, width: int = 2, colour: tuple[int, int, int] = (170, 170, 170)) -> Image.Image:
    """``image`` with a thin grey frame, so a white mask region stays visible on the white page."""
    return ImageOps.expand(image.convert("RGB"), border=width, fill=colour)


def square_thumbnail(path: str | Path, side: int = 256) -> Image.Image:
    """The image fitted into a ``side``² square on a white background (aspect kept), for grids of equal rows."""
    with Image.open(path) as im:
        return ImageOps.pad(im.convert("RGB"), (side, side), color=(255, 255, 255))
