"""What `--input` names: the files of a run, their format, and the name each one goes by.

A file, a directory or a glob. The format comes from the file extensions (or
``--input-format``); Parquet directories and globs are discovered with
``pyarrow.dataset`` (recursively, hive partitions such as ``dt=2026-11-22/`` included,
files starting with ``_`` or ``.`` ignored). Each file goes by its path relative to the
input root (a directory, or a glob's fixed leading directory), or as given for a single
file: that name is the lineage (``source_topic``) of every score and dead letter from it,
and with hive partitions it names one file of the dataset.
"""

from __future__ import annotations

import glob
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from pyarrow import fs

from consumer.scoring.errors import ConfigError

AVRO_SUFFIXES = (".avro",)
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
FORMATS = ("auto", "avro", "parquet")
_IGNORED = ("_", ".")  # pyarrow.dataset's default selector_ignore_prefixes


@dataclass(frozen=True)
class InputFile:
    path: Path
    name: str  # lineage: relative to the input root, or as given for a single file
    index: int  # position in the run's sorted file list (source_partition)
    partition_keys: dict[str, str] = field(default_factory=dict)  # hive key=value segments


@dataclass(frozen=True)
class Inputs:
    spec: str
    format: str  # "avro" | "parquet"
    root: Path | None  # what names are relative to; None for a single file
    files: tuple[InputFile, ...]


def _suffix_format(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(AVRO_SUFFIXES):
        return "avro"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def hive_keys(name: str) -> dict[str, str]:
    """The ``key=value`` directory segments of a relative path, URL-decoded as pyarrow
    writes them; later segments win."""
    keys = {}
    for segment in Path(name).parts[:-1]:
        key, sep, value = segment.partition("=")
        if sep and key:
            keys[urllib.parse.unquote(key)] = urllib.parse.unquote(value)
    return keys


def _glob_root(spec: str) -> Path:
    """The leading directories of a glob that hold no wildcard."""
    fixed = []
    for part in Path(spec).parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _discover(root: Path) -> list[Path]:
    """Every file under ``root`` as pyarrow.dataset discovers a dataset's files: recursive,
    skipping names (files or directories) that start with ``_`` or ``.`` such as
    ``_SUCCESS``, ``_temporary/`` and ``.staging`` leftovers."""
    base = root.resolve()
    selector = fs.FileSelector(str(base), recursive=True)
    try:
        infos = fs.LocalFileSystem().get_file_info(selector)
    except OSError as exc:
        raise ConfigError(f"cannot list {root}: {exc}") from None
    files = []
    for info in infos:
        if info.type != fs.FileType.File:
            continue
        relative = Path(info.path).relative_to(base)
        if any(part.startswith(_IGNORED) for part in relative.parts):
            continue
        files.append(root / relative)
    return sorted(files)


def _pick_format(files: list[Path], asked: str, spec: str) -> str:
    if asked != "auto":
        return asked
    kinds = {_suffix_format(f) for f in files}
    if kinds == {"avro"}:
        return "avro"
    if kinds == {"parquet"}:
        return "parquet"
    if None in kinds:
        unknown = next(f for f in files if _suffix_format(f) is None)
        raise ConfigError(
            f"cannot tell the format of {unknown} from its name: "
            "give --input-format avro or --input-format parquet"
        )
    raise ConfigError(f"{spec} holds both Avro and Parquet files: give --input-format")


def resolve_inputs(spec: str, asked: str = "auto") -> Inputs:
    """The files ``spec`` names, sorted, with their format and lineage names."""
    path = Path(spec)
    root: Path | None
    if path.is_dir():
        root = path
        avro = sorted(p for p in path.glob("*.avro") if p.is_file())
        parquet = _discover(path) if asked != "avro" else []
        if asked == "auto":
            parquet = [p for p in parquet if _suffix_format(p) == "parquet"]
            if avro and parquet:
                raise ConfigError(f"{spec} holds both Avro and Parquet files: give --input-format")
        fmt = "avro" if asked == "avro" or (asked == "auto" and avro) else "parquet"
        files = avro if fmt == "avro" else parquet
        if not files:
            what = {"avro": "*.avro", "parquet": "Parquet"}.get(asked, "*.avro or Parquet")
            raise ConfigError(f"no {what} files in {spec}")
    elif path.is_file():
        root, files = None, [path]
        fmt = _pick_format(files, asked, spec)
    else:
        root = _glob_root(spec)
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not files:
            raise ConfigError(
                f"input not found: {spec} (no file, directory of *.avro or Parquet, or glob match)"
            )
        fmt = _pick_format(files, asked, spec)
    named = []
    for i, f in enumerate(files):
        name = os.path.relpath(f, root) if root is not None else str(f)
        named.append(InputFile(f, name, i, hive_keys(name) if fmt == "parquet" else {}))
    return Inputs(spec, fmt, root, tuple(named))
