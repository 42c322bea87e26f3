"""File sources of a schema (CSV, Parquet, image files), read only from allowed folders.

A schema names files by path or glob ("examples/movies/*.csv"). Paths resolve inside the given
roots only — the home's data folder over REST, plus the schema file's folder and the working
directory from the CLI — so no request can read an arbitrary file. Records are capped.
"""
from __future__ import annotations

import csv
import glob
import io
from pathlib import Path

from tabletalk.core.errors import Invalid, TooLarge

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_RECORDS = 50_000
MAX_FILES = 1_000


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _matches(pattern: str, roots: list[Path]) -> list[tuple[Path, str]]:
    """Files for a pattern under the first root that has any. A path written relative to another
    checkout ("examples/icon_jokes/images.csv") also matches by its tail inside a root."""
    parts = Path(pattern).parts
    for root in roots:
        for k in range(len(parts)):
            matches = sorted(glob.glob(str(root.joinpath(*parts[k:])), recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file() and _inside(Path(m), root)]
            if files:
                return [(f, str(f.resolve().relative_to(root.resolve()))) for f in files]
    return []


def read_text(what: str, path: str, roots: list[Path]) -> str:
    """One text file (a schema file, a CSV named by a workflow variable) from the allowed folders."""
    (file, _), *rest = resolve(what, [path], roots)
    try:
        return _read_bytes(file, what).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid(f"{what}: '{path}' is not a UTF-8 text file.") from None


def resolve(source: str, patterns: list[str], roots: list[Path]) -> list[tuple[Path, str]]:
    """(file, path as written) for every file matching the patterns under the first root that has any."""
    if not patterns:
        raise Invalid(f"{_label(source)} names no 'paths'.")
    found: list[tuple[Path, str]] = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip() or "\x00" in pattern:
            raise Invalid(f"{_label(source)} has an empty or invalid path.")
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise Invalid(f"{_label(source)}: path '{pattern}' must be relative to the data folder, without '..'.")
        files = _matches(pattern, roots)
        if files:
            found.extend(files)
        else:
            raise Invalid(f"{_label(source)}: no file matches '{pattern}' in the data folder"
                          f"{' or the allowed folders' if len(roots) > 1 else ''}.")
    if len(found) > MAX_FILES:
        raise TooLarge(f"Source '{source}' matches more than {MAX_FILES} files.")
    return found


def _label(source: str) -> str:
    return source if " " in source else f"Source '{source}'"


def _read_bytes(path: Path, source: str) -> bytes:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise TooLarge(f"{_label(source)}: {path.name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    return path.read_bytes()


def csv_records(raw: bytes, source: str) -> list[dict]:
    try:
        reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
        return [dict(r) for r, _ in zip(reader, range(MAX_RECORDS))]
    except (UnicodeDecodeError, csv.Error):
        raise Invalid(f"Source '{source}' is not a readable UTF-8 CSV file.") from None


def parquet_records(path: Path, source: str) -> list[dict]:
    import pyarrow.parquet as pq

    _read_bytes(path, source)  # size check only; pyarrow reads the file itself
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise Invalid(f"Source '{source}': {path.name} is not a readable Parquet file ({type(exc).__name__}).") from None
    return table.slice(0, MAX_RECORDS).to_pylist()


def read_records(source: str, kind: str, patterns: list[str], roots: list[Path]) -> list[dict]:
    """Records of a csv / parquet / files source (blocking: call it in a thread)."""
    records: list[dict] = []
    for path, written in resolve(source, patterns, roots):
        if kind == "files":
            records.append({"file": written})
        elif kind == "parquet":
            records.extend(parquet_records(path, source))
        else:
            records.extend(csv_records(_read_bytes(path, source), source))
        if len(records) >= MAX_RECORDS:
            break
    if not records:
        raise Invalid(f"Source '{source}' has no rows.")
    return [{k: _plain(v) for k, v in r.items()} for r in records[:MAX_RECORDS]]


def _plain(value):
    """JSON-safe values (Parquet gives dates, decimals and bytes)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
