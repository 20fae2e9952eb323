"""Table files written in batches, whatever their size: CSV (empty cell = not applicable),
JSON Lines (null) and Parquet (typed columns, null; pyarrow, the optional `export` extra). A
batch of rows is all that is held at once.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import orjson

from llmbench.errors import ConfigError, StoreError
from llmbench.export.rows import Columns, Row

TableFormat = Literal["csv", "jsonl", "parquet"]
BATCH_ROWS = 8192  # rows converted and written at once: a few MB at most


class _TableFile(Protocol):
    def write(self, rows: list[Row]) -> None: ...

    def close(self) -> None: ...


class _CsvFile:
    def __init__(self, path: Path, columns: Columns) -> None:
        self._file: IO[str] = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=[name for name, _ in columns])
        self._writer.writeheader()

    def write(self, rows: list[Row]) -> None:
        self._writer.writerows(rows)  # None is written as an empty cell

    def close(self) -> None:
        self._file.close()


class _JsonLinesFile:
    def __init__(self, path: Path, columns: Columns) -> None:
        self._file: IO[bytes] = path.open("wb")

    def write(self, rows: list[Row]) -> None:
        newline = orjson.OPT_APPEND_NEWLINE
        self._file.write(b"".join(orjson.dumps(row, option=newline) for row in rows))

    def close(self) -> None:
        self._file.close()


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise ConfigError(
            "--format parquet needs pyarrow, which is not installed",
            where="--format",
            hint="pip install 'llmbench[export]' (or choose --format csv or jsonl)",
        ) from exc
    return pyarrow


class _ParquetFile:
    def __init__(self, path: Path, columns: Columns) -> None:
        pa = _pyarrow()
        types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
        self._pa = pa
        self._schema = pa.schema([(name, types[kind]) for name, kind in columns])
        self._writer = pa.parquet.ParquetWriter(str(path), self._schema)

    def write(self, rows: list[Row]) -> None:
        # one row group per batch: readers can stream the file back the same way
        self._writer.write_table(self._pa.Table.from_pylist(rows, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


def _batches(rows: Iterator[Row]) -> Iterator[list[Row]]:
    while batch := list(islice(rows, BATCH_ROWS)):
        yield batch


_FILES: dict[str, type[_CsvFile] | type[_JsonLinesFile] | type[_ParquetFile]] = {
    "csv": _CsvFile,
    "jsonl": _JsonLinesFile,
    "parquet": _ParquetFile,
}


def write_table(path: Path, format_: TableFormat, columns: Columns, rows: Iterable[Row]) -> int:
    """Writes `rows` (an iterator: consumed batch by batch) to `path`; returns the row count."""
    if format_ == "parquet":
        _pyarrow()  # the missing extra is a usage error, before anything is read
    try:
        table: _TableFile = _FILES[format_](path, columns)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    written = 0
    try:
        for batch in _batches(iter(rows)):
            table.write(batch)
            written += len(batch)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        table.close()
    return written
