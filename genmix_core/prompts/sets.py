"""Prompt sets: load, validate and save the lists of edit prompts that drive GenMix.

A prompt set is a small YAML file (format in ``prompts/README.md``)::

    name: factory
    title: {en: "Factory conditions", ja: "工場の撮影条件"}
    prompts:
      - text: "dim lighting"     # given to the diffusion model as is (English, a bare phrase)
        ja: "暗い照明"            # shown beside it in the Japanese UI (optional)
        filter: dim_light        # recipe of the offline style filter (optional; else matched by text)

Curated sets live in ``prompts/`` (read-only): the GenMix authors' classification (9) and domain-adaptation
(5) prompts, verbatim, and our ``factory`` set. Users keep their own sets in their project's ``prompts/``
folder; those can never overwrite or shadow a curated set.

Every problem in a file is a :class:`~genmix_core.errors.UserError` (``err.prompts.*``) that names the file,
the entry and the fix, in English and Japanese.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from genmix_core import fileio
from genmix_core.errors import UserError
from genmix_core.i18n import Term
from genmix_core.paths import CURATED_PROMPTS_DIR, MAX_NAME_BYTES, safe_join, safe_name
from genmix_core.prompts.checks import MAX_PROMPT_CHARS, optional_str, prompt_key, text_pair, validate_prompts

log = logging.getLogger(__name__)

CURATED_NAMES = ("classification", "domain_adaptation", "factory")
# The set used when the user has chosen none: the workbench is for factory photos.
DEFAULT_PROMPT_SET = "factory"
TABLE_COLUMNS = ("text", "ja", "filter")
# Errors about the app's prompt table name it in the user's language ("table" / "表").
TABLE_SOURCE = Term("prompts.source.table")
PROMPT_FIELDS = ("text", "ja", "filter", "note")
SET_FIELDS = ("name", "title", "description", "source", "prompts")


@dataclass
class Prompt:
    """One edit prompt.

    Attributes:
        text: given to the diffusion editor unchanged (e.g. ``"snowy"``; the authors pass bare phrases).
        ja: Japanese gloss shown beside ``text`` in the Japanese UI; never sent to a model.
        filter: id of the offline style-filter recipe (``genmix_core.editing.offline.RECIPES``); None means
            "match by text".
        note: why the prompt is in the set, ``{"en": ..., "ja": ...}`` (curated sets), or None.
    """

    text: str
    ja: str | None = None
    filter: str | None = None
    note: dict[str, str] | None = None

    def label(self, lang: str = "en") -> str:
        """``"snowy"`` in English, ``"snowy（雪景色）"`` in Japanese when a gloss exists."""
        if lang == "ja" and self.ja:
            return f"{self.text}（{self.ja}）"
        return self.text


@dataclass
class PromptSet:
    """A named list of prompts.

    Attributes:
        name: file stem, unique among sets (``"factory"``).
        title / description: ``{"en": ..., "ja": ...}``.
        prompts: the prompts, in file order.
        curated: True for the read-only sets shipped in ``prompts/``.
        path: the YAML file it came from (None if built in memory).
        source: where the prompts come from (paper, repository, "user").
    """

    name: str
    title: dict[str, str]
    description: dict[str, str] = field(default_factory=dict)
    prompts: list[Prompt] = field(default_factory=list)
    curated: bool = False
    path: Path | None = None
    source: str | None = None

    @property
    def texts(self) -> list[str]:
        """The prompt texts, as given to an editor."""
        return [p.text for p in self.prompts]

    @property
    def ref(self) -> str:
        """How a job names this set (``--prompt-set``): its YAML file when it has one, else its name."""
        return str(self.path) if self.path else self.name

    def title_in(self, lang: str = "en") -> str:
        """The title in ``lang`` (English, then the name, as fallbacks)."""
        return self.title.get(lang) or self.title.get("en") or self.name


def _known_filters() -> tuple[str, ...]:
    # Imported late: the recipes pull in numpy/Pillow code that loading a YAML file should not need first.
    from genmix_core.editing.offline import RECIPES

    return tuple(RECIPES)


def check_prompt_entries(prompts: Iterable[Prompt], *, source: str = "") -> list[Prompt]:
    """Validate texts (:func:`validate_prompts`), glosses and filter ids of prompts; returns stripped copies.

    Raises:
        UserError: as :func:`validate_prompts`, plus ``err.prompts.unknown_filter``.
    """
    where = source or "-"
    items = list(prompts)
    texts = validate_prompts([p.text for p in items], source=where)
    known = None
    out = []
    for i, (p, text) in enumerate(zip(items, texts), start=1):
        ja = optional_str(p.ja, where=where, field_name=f"prompts[{i}].ja")
        flt = optional_str(p.filter, where=where, field_name=f"prompts[{i}].filter")
        if flt is not None:
            known = known or _known_filters()
            if flt not in known:
                raise UserError("err.prompts.unknown_filter", file=where, index=i, prompt=text, filter=flt,
                                known=", ".join(known))
        out.append(Prompt(text=text, ja=ja, filter=flt, note=p.note))
    return out


def _parse_entry(entry: Any, i: int, where: str) -> Prompt:
    if isinstance(entry, str):
        return Prompt(text=entry)
    if not isinstance(entry, dict):
        raise UserError("err.prompts.wrong_type", file=where, field=f"prompts[{i}]",
                        expected="text or {text: ..., ja: ..., filter: ...}", got=type(entry).__name__,
                        value=repr(entry)[:60])
    unknown = [k for k in entry if k not in PROMPT_FIELDS]
    if unknown:
        raise UserError("err.prompts.unknown_field", file=where, field=f"prompts[{i}].{unknown[0]}",
                        allowed=", ".join(PROMPT_FIELDS))
    if "text" not in entry:
        raise UserError("err.prompts.empty", file=where, index=i)
    note = text_pair(entry.get("note"), where=where, field_name=f"prompts[{i}].note", required=False)
    return Prompt(text=entry["text"], ja=entry.get("ja"), filter=entry.get("filter"), note=note or None)


def parse_prompt_set(data: Any, *, name: str, where: str, curated: bool = False,
                     path: Path | None = None) -> PromptSet:
    """Build a :class:`PromptSet` from parsed YAML (a dict); ``where`` names the source in errors."""
    if not isinstance(data, dict):
        raise UserError("err.prompts.not_mapping", file=where, got=type(data).__name__)
    unknown = [k for k in data if k not in SET_FIELDS]
    if unknown:
        raise UserError("err.prompts.unknown_field", file=where, field=str(unknown[0]),
                        allowed=", ".join(SET_FIELDS))
    if "prompts" not in data or data["prompts"] is None:
        raise UserError("err.prompts.missing_prompts", file=where)
    entries = data["prompts"]
    if not isinstance(entries, list):
        raise UserError("err.prompts.wrong_type", file=where, field="prompts", expected="a list (- ...)",
                        got=type(entries).__name__, value=repr(entries)[:60])
    prompts = check_prompt_entries([_parse_entry(e, i, where) for i, e in enumerate(entries, start=1)],
                                   source=where)
    title = text_pair(data.get("title"), where=where, field_name="title", required=False) or {"en": name}
    description = text_pair(data.get("description"), where=where, field_name="description", required=False)
    source = optional_str(data.get("source"), where=where, field_name="source")
    return PromptSet(name=name, title=title, description=description, prompts=prompts, curated=curated,
                     path=path, source=source)


def load_prompt_set(path: str | Path, *, curated: bool | None = None) -> PromptSet:
    """Load and validate one prompt-set YAML file.

    Args:
        path: the ``.yaml`` file. Its stem is the set's name.
        curated: force the flag; by default True when the file lies in the curated ``prompts/`` folder.

    Raises:
        UserError: ``err.prompts.not_found``, ``err.prompts.not_utf8``, ``err.prompts.yaml_syntax`` (with
            line and column), ``err.prompts.not_mapping``, ``err.prompts.missing_prompts``,
            ``err.prompts.unknown_field``, ``err.prompts.wrong_type`` and those of
            :func:`check_prompt_entries`.
    """
    path = Path(path)
    where = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError("err.prompts.not_found", file=str(path), reason=exc.strerror or str(exc)) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError("err.prompts.not_utf8", file=where) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else "?"
        column = mark.column + 1 if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError("err.prompts.yaml_syntax", file=where, line=line, column=column, problem=problem) from exc
    if curated is None:
        curated = path.resolve().parent == CURATED_PROMPTS_DIR.resolve()
    return parse_prompt_set(data, name=path.stem, where=where, curated=curated, path=path)


def is_curated_name(name: str) -> bool:
    """Whether ``name`` (after :func:`safe_name`, ignoring case) is the name of a curated set."""
    return safe_name(name, fallback="").casefold() in {n.casefold() for n in curated_names()}


def curated_names() -> list[str]:
    """Names of the curated sets: the files in ``prompts/`` (and :data:`CURATED_NAMES`)."""
    names = list(CURATED_NAMES)
    names += sorted(p.stem for p in CURATED_PROMPTS_DIR.glob("*.yaml") if p.stem not in names)
    return names


def list_prompt_sets(user_dir: str | Path | None = None, *,
                     problems: list[UserError] | None = None) -> list[PromptSet]:
    """All prompt sets: curated first (fixed order), then the user's, sorted by name.

    A broken user file must not hide the other sets, so it is skipped; pass a list as ``problems`` to get its
    error (the UI shows them). A user file named like a curated set is skipped the same way
    (``err.prompts.curated_name``). A broken curated file raises: it is a bug in the product.
    """
    sets = [load_prompt_set(CURATED_PROMPTS_DIR / f"{n}.yaml", curated=True) for n in curated_names()]
    if user_dir is None or not Path(user_dir).is_dir():
        return sets
    for path in sorted(Path(user_dir).glob("*.yaml")):
        try:
            if is_curated_name(path.stem):
                raise UserError("err.prompts.curated_name", name=path.stem)
            sets.append(load_prompt_set(path, curated=False))
        except UserError as exc:
            log.warning("skipped prompt set %s: %s", path, exc)
            if problems is not None:
                problems.append(exc)
    return sets


def _as_prompts(prompts: Iterable[Prompt | str]) -> list[Prompt]:
    return [p if isinstance(p, Prompt) else Prompt(text=p) for p in prompts]


def save_user_prompt_set(user_dir: str | Path, name: str, prompts: Iterable[Prompt | str],
                         title: str | dict[str, str] | None = None, *, overwrite: bool = False) -> Path:
    """Validate and write a user's prompt set to ``<user_dir>/<safe name>.yaml`` atomically.

    Args:
        user_dir: the project's prompt folder.
        name: set name; made safe with :func:`~genmix_core.paths.safe_name` (Japanese is kept).
        prompts: :class:`Prompt` objects or plain texts.
        title: ``"My set"`` or ``{"en": ..., "ja": ...}``; defaults to the name.
        overwrite: replace an existing user set of that name (the "save changes" button); a curated set is
            never replaced.

    Returns:
        The written file. ``load_prompt_set(path).prompts`` equals the validated prompts.

    Raises:
        UserError: ``err.prompts.curated_name``, ``err.prompts.exists`` (without ``overwrite``),
            ``err.path.bad_name``, and the validation errors of :func:`check_prompt_entries`.
    """
    stem = safe_name(name, max_bytes=MAX_NAME_BYTES - len(".yaml"))   # the file name must fit the disk
    if is_curated_name(stem):
        raise UserError("err.prompts.curated_name", name=stem)
    where = f"{stem}.yaml"
    checked = check_prompt_entries(_as_prompts(prompts), source=where)
    path = safe_join(user_dir, where)
    if path.exists() and not overwrite:
        raise UserError("err.prompts.exists", name=stem, file=str(path))
    title_pair = text_pair(title, where=where, field_name="title", required=False) or {"en": str(name)}
    entries = []
    for p in checked:
        entry: dict[str, Any] = {"text": p.text}
        if p.ja:
            entry["ja"] = p.ja
        if p.filter:
            entry["filter"] = p.filter
        if p.note:
            entry["note"] = dict(p.note)
        entries.append(entry)
    doc = {"name": stem, "title": title_pair, "source": "user", "prompts": entries}
    text = "# Prompt set saved by GenMix Workbench. Format: prompts/README.md\n" + yaml.safe_dump(
        doc, allow_unicode=True, sort_keys=False, width=1000)
    return fileio.atomic_write_text(path, text)


def prompt_set_to_table(prompts: PromptSet | Iterable[Prompt | str]) -> list[dict[str, str]]:
    """Rows for an editable table (``st.data_editor``): ``[{"text", "ja", "filter"}]``, empty cells as ``""``.

    ``pandas.DataFrame(rows, columns=TABLE_COLUMNS)`` gives the frame; :func:`table_to_prompts` reverses it.
    """
    items = prompts.prompts if isinstance(prompts, PromptSet) else _as_prompts(prompts)
    return [{"text": p.text, "ja": p.ja or "", "filter": p.filter or ""} for p in items]


def _cell(value: Any) -> str | None:
    """A table cell as stripped text or None (pandas gives NaN/None/NA for cells the user left empty)."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    text = str(value).strip()
    return text or None


def table_to_prompts(table: Any) -> list[Prompt]:
    """Prompts from table rows: a list of dicts or a ``pandas.DataFrame`` with a ``text`` column.

    Rows that are entirely empty (the blank row a data editor adds) are dropped; a row with a gloss or filter
    but no text is an error, as are the problems :func:`check_prompt_entries` finds.

    Raises:
        UserError: ``err.prompts.table_columns`` when there is no ``text`` column, and the validation errors.
    """
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        if "text" not in table.columns:
            raise UserError("err.prompts.table_columns", columns=", ".join(map(str, table.columns)))
        rows = table.to_dict("records")
    else:
        rows = list(table)
    prompts = []
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or ("text" not in row and row):
            raise UserError("err.prompts.table_columns", columns=", ".join(map(str, getattr(row, "keys",
                                                                                            lambda: [])())))
        cells = {c: _cell(row.get(c)) for c in TABLE_COLUMNS}
        if not any(cells.values()):
            continue
        if cells["text"] is None:
            raise UserError("err.prompts.table_row_empty", index=i)
        prompts.append(Prompt(text=cells["text"], ja=cells["ja"], filter=cells["filter"]))
    return check_prompt_entries(prompts, source=TABLE_SOURCE)


def usable_table_prompts(table: Any) -> list[Prompt]:
    """The rows of a prompt table that are valid on their own (for trying prompts while another row is still
    being fixed): rows without text, unknown styles and repeats of an earlier row are left out."""
    rows = table.to_dict("records") if hasattr(table, "to_dict") else list(table)
    out: list[Prompt] = []
    seen: set[str] = set()
    for row in rows:
        try:
            (prompt,) = table_to_prompts([{c: row.get(c) for c in TABLE_COLUMNS}]) or [None]
        except (UserError, ValueError):
            continue
        if prompt is not None and prompt_key(prompt.text) not in seen:
            seen.add(prompt_key(prompt.text))
            out.append(prompt)
    return out


def pick_prompt_set(sets: Iterable[PromptSet], name: str | None = None) -> PromptSet:
    """The set called ``name``, else :data:`DEFAULT_PROMPT_SET`, else the first one.

    Raises:
        UserError: ``err.gen.unknown_prompt_set`` when there is no set at all.
    """
    by_name = {s.name: s for s in sets}
    chosen = by_name.get(name or "") or by_name.get(DEFAULT_PROMPT_SET) or next(iter(by_name.values()), None)
    if chosen is None:
        raise UserError("err.gen.unknown_prompt_set", name=name or DEFAULT_PROMPT_SET, choices="(none)")
    return chosen
