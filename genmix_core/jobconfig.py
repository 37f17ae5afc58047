"""One config dataclass per long job: its command line, its ``config.json`` and its launch, all derived.

A job's settings are written once, as the fields of a dataclass with :func:`setting` metadata (help text,
choices, how a command-line value is parsed, whether a change still resumes). From that one definition come:

* the command line (:func:`build_parser`, :func:`config_from_argv`): one flag per field, help from the
  metadata, defaults from the dataclass (a flag left out keeps the field's default);
* the run folder's ``config.json`` (:func:`write_config`, :func:`read_config`): the only code that writes or
  reads that file, ``{"kind", "version", "args"}``;
* the launch from a page (:func:`launch`): write ``config.json`` into the run folder, then start
  ``python -m <module> --run DIR`` in its own process. The worker reads the settings back from that file, so
  nothing passes through an argv translation that could lose data (a prompt with a comma stays one prompt).

See transformers' ``HfArgumentParser`` for the pattern (flags from dataclass fields).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, Callable, Sequence

from genmix_core.errors import UserError
from genmix_core.fileio import atomic_write_json, read_json

CONFIG_FILE = "config.json"
_META = "genmix"


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """What a config class says about its job (a ``ClassVar`` named ``job`` on the dataclass).

    Attributes:
        kind: the ``kind`` in ``config.json`` and ``job.json`` (``"generate"``, ``"train"``).
        module: run as ``python -m <module>``.
        not_a_run_key: catalog key of the error for a folder that holds no such run (``{path}`` placeholder).
        version: the ``config.json`` format version.
    """

    kind: str
    module: str
    not_a_run_key: str
    version: int = 1


def setting(default: Any = dataclasses.MISSING, *, help: str, default_factory: Any = dataclasses.MISSING,
            choices: Sequence[str] | Callable[[], Sequence[str]] | None = None,
            parse: Callable[[str], Any] | None = None, metavar: str | None = None, free: bool = False,
            lines_file: bool = False, cli: bool = True) -> Any:
    """A config field with what the command line and the resume check need to know about it.

    Args:
        default, default_factory: as :func:`dataclasses.field`; a field without either is a required flag.
        help: the flag's help text (English; the UI has its own labels).
        choices: allowed values (or a function returning them, read when the parser is built).
        parse: turns the flag's text into the field's value (default: from the field's type; lists are
            comma-separated, or one item per line when the text has several lines).
        metavar: the flag's placeholder in ``--help``.
        free: changing it keeps a run resumable (it changes no output: batch size, worker threads ...).
        lines_file: also offer ``--<name>-file FILE``, one item per line (UTF-8), so any text works.
        cli: False keeps the field off the command line (set by code only).
    """
    meta = {_META: {"help": help, "choices": choices, "parse": parse, "metavar": metavar, "free": free,
                    "lines_file": lines_file, "cli": cli}}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


def _meta(f: dataclasses.Field) -> dict:
    return f.metadata.get(_META) or {"help": "", "choices": None, "parse": None, "metavar": None,
                                     "free": False, "lines_file": False, "cli": True}


def free_fields(cls: type) -> tuple[str, ...]:
    """Names of the fields a rerun may change and still resume (they change no output)."""
    return tuple(f.name for f in dataclasses.fields(cls) if _meta(f)["free"])


def flag(name: str) -> str:
    """The command-line flag of field ``name`` (``batch_size`` → ``--batch-size``)."""
    return "--" + name.replace("_", "-")


# --- command line --------------------------------------------------------------------------------------------

def split_list(text: str) -> list[str]:
    """A list flag's items: one per line when the text has several lines, else comma-separated; stripped."""
    parts = str(text).splitlines() if "\n" in str(text) else str(text).split(",")
    return [p.strip() for p in parts if p.strip()]


def read_lines(path: str) -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped (``--prompts-file``)."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path!r} as UTF-8 text: {exc}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _unwrap(tp: Any) -> Any:
    """``X | None`` → ``X``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return tp


def _item_parser(tp: Any, name: str) -> Callable[[str], Any]:
    kind = {int: "integers", float: "numbers"}.get(tp)

    def parse(text: str) -> Any:
        try:
            return tp(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag(name)} takes {kind or tp.__name__}, got {text!r}") from None
    return parse


def _list_parser(item: Callable[[str], Any]) -> Callable[[str], list]:
    def parse(text: str) -> list:
        return [item(p) for p in split_list(text)]
    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:  # one line instead of usage + message
        self.exit(2, f"error: {message} (see --help)\n")


def build_parser(cls: type, prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with one flag per field of the config dataclass ``cls``, plus ``--run DIR``.

    Every flag's default is "not given" (``argparse.SUPPRESS``): a flag left out keeps the dataclass default,
    so defaults are written in one place.
    """
    p = _Parser(prog=prog, description=description, argument_default=argparse.SUPPRESS)
    p.add_argument("--run", metavar="DIR", help="a run folder whose config.json holds every setting (how the app "
                                                "starts a job; rerun it to resume). No other flag goes with it")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = _meta(f)
        if not meta["cli"]:
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        help_text = meta["help"] + (" (required)" if required else "")
        default = None if required else (f.default if f.default is not dataclasses.MISSING else f.default_factory())
        if default not in (None, False, []) and "default" not in help_text:
            shown = ",".join(map(str, default)) if isinstance(default, list) else default
            help_text += f" (default {shown})"
        tp = _unwrap(hints[f.name])
        choices = meta["choices"]() if callable(meta["choices"]) else meta["choices"]
        if tp is bool:
            if f.default is True:
                p.add_argument(flag("no_" + f.name), dest=f.name, action="store_false", help=help_text)
            else:
                p.add_argument(flag(f.name), dest=f.name, action="store_true", help=help_text)
            continue
        if typing.get_origin(tp) is list:
            item = _item_parser(typing.get_args(tp)[0], f.name)
            parse = meta["parse"] or _list_parser(item)
        else:
            parse = meta["parse"] or _item_parser(tp, f.name)
        p.add_argument(flag(f.name), dest=f.name, type=parse, metavar=meta["metavar"],
                       choices=choices if typing.get_origin(tp) is not list else None, help=help_text)
        if meta["lines_file"]:
            p.add_argument(flag(f.name) + "-file", dest=f.name, type=read_lines, metavar="FILE",
                           help=f"the {f.name.replace('_', ' ')} from a UTF-8 text file, one per line (any text, "
                                f"commas included)")
    return p


def config_from_argv(cls: type, parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> Any:
    """The config the command line asks for: from ``--run DIR``'s ``config.json``, or from the flags.

    Exits with status 2 and one line on stderr (argparse's way) when a required flag is missing or ``--run``
    comes with other flags.
    """
    ns = vars(parser.parse_args(argv))
    run = ns.pop("run", None)
    if run is not None:
        if ns:
            parser.error(f"--run takes no other flag (got {', '.join(flag(k) for k in sorted(ns))}); "
                         f"change the settings in {Path(run) / CONFIG_FILE} or start a new run")
        try:
            return read_config(run, cls)
        except UserError as exc:
            parser.exit(2, f"error: {exc}\n")
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in ns and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(flag(m) for m in missing)}")
    return cls(**ns)


def to_argv(cfg: Any) -> list[str]:
    """Flags that give ``cfg`` back through :func:`config_from_argv` (for documentation and tests; lists
    are written one item per line, so commas inside items survive). Fields whose flag names a file
    (``--include FILE``) are left out: the run folder's ``config.json`` is the way to hand over every setting."""
    argv: list[str] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if not _meta(f)["cli"] or _meta(f)["parse"] is not None or value is None or (f.default is not dataclasses.MISSING and value == f.default):
            continue
        if isinstance(value, bool):
            argv.append(flag(f.name) if value else flag("no_" + f.name))
        elif isinstance(value, list):
            argv += [flag(f.name), "\n".join(map(str, value)) + ("\n" if len(value) == 1 else "")]
        else:
            argv += [flag(f.name), str(value)]
    return argv


# --- config.json ---------------------------------------------------------------------------------------------

def stored_args(cfg: Any) -> dict:
    """The settings as ``config.json`` keeps them (a config may leave out unset keys that older runs lack)."""
    hook = getattr(cfg, "stored_args", None)
    return hook() if callable(hook) else dataclasses.asdict(cfg)


def write_config(run_dir: str | os.PathLike, cfg: Any) -> Path:
    """Write the run folder's ``config.json`` (atomically): ``{"kind", "version", "args"}``."""
    job: JobSpec = type(cfg).job
    return atomic_write_json(Path(run_dir) / CONFIG_FILE, {"kind": job.kind, "version": job.version,
                                                           "args": stored_args(cfg)})


def read_stored_args(run_dir: str | os.PathLike, cls: type) -> dict | None:
    """The ``args`` of a run folder's ``config.json`` when it holds a job of ``cls``, else None."""
    data = read_json(Path(run_dir) / CONFIG_FILE, default=None)
    if not isinstance(data, dict) or data.get("kind") != cls.job.kind or not isinstance(data.get("args"), dict):
        return None
    return data["args"]


def read_config(run_dir: str | os.PathLike, cls: type) -> Any:
    """The config a run folder was started with. Keys unknown to this version are ignored; missing keys take
    their defaults (folders of older versions still open).

    Raises:
        UserError: ``cls.job.not_a_run_key`` when the folder holds no such job.
    """
    args = read_stored_args(run_dir, cls)
    if args is None:
        raise UserError(cls.job.not_a_run_key, path=str(run_dir))
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in args.items() if k in known})


def launch(run_dir: str | os.PathLike, cfg: Any):
    """Start a job from the UI: write ``config.json`` into ``run_dir``, then ``python -m <module> --run DIR``.

    Returns:
        The :class:`subprocess.Popen` of the worker (it outlives the Streamlit script run).
    """
    from genmix_core.jobs import start_process

    job: JobSpec = type(cfg).job
    write_config(run_dir, cfg)
    return start_process(run_dir, job.module, ["--run", str(Path(run_dir))], kind=job.kind)


def resume(run_dir: str | os.PathLike, cls: type):
    """Start a run folder's job again with its recorded settings (``python -m <module> --run DIR``); the
    worker skips what is already done.

    Raises:
        UserError: ``cls.job.not_a_run_key`` when the folder holds no such job.
    """
    from genmix_core.jobs import start_process

    read_config(run_dir, cls)  # fail here, on the page, rather than in the worker's log
    return start_process(run_dir, cls.job.module, ["--run", str(Path(run_dir))], kind=cls.job.kind)
