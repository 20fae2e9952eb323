"""Table exports: request rows that equal the records' own numbers, one schema in every format
(CSV empty cells, JSON Lines and Parquet nulls), Parquet written batch by batch, a study's runs
with their places, the missing extra and the torn line reported clearly."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from llmbench.cli.main import main
from llmbench.errors import ConfigError
from llmbench.export import tables
from llmbench.export.rows import REQUEST_COLUMNS, table_rows
from llmbench.export.sources import run_sources
from llmbench.store.results import RECORDS_FILE, iter_records, read_run_file, record_line
from support.records import varied_records
from support.runs import GOLDEN_V2

CLOSED = GOLDEN_V2 / "closed"


def _records_dir(tmp_path: Path, n: int) -> Path:
    directory = tmp_path / "run"
    directory.mkdir()
    with (directory / RECORDS_FILE).open("wb") as f:
        for record in varied_records(n, seed=3):
            f.write(record_line(record))
    return directory


def test_request_rows_are_the_records_numbers_in_ms(tmp_path: Path) -> None:
    out = tmp_path / "requests.csv"
    main(["export", str(CLOSED), "--format", "csv", "--out", str(out)])
    rows = list(csv.DictReader(out.read_text().splitlines()))
    records = list(iter_records(CLOSED / RECORDS_FILE, []))
    origin = read_run_file(CLOSED / "run.json").clock.monotonic_ns_at_start
    assert len(rows) == len(records) == 28
    assert list(rows[0]) == [name for name, _ in REQUEST_COLUMNS]
    for row, record in zip(rows, records, strict=True):
        assert row["request_id"] == record.request_id
        assert float(row["sent_ms"]) * 1e6 == pytest.approx(record.sent_ns - origin, abs=1)
        if record.first_token_ns is None:
            assert row["ttft_ms"] == ""  # not applicable: an empty cell, never 0
        else:
            ttft_ns = record.first_token_ns - record.sent_ns
            assert float(row["ttft_ms"]) * 1e6 == pytest.approx(ttft_ns, abs=1)
        assert int(row["chunks"]) == len(record.chunk_offsets_ns)
        assert row["status"] == record.status.value


def test_parquet_and_json_lines_hold_the_same_rows_written_in_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "BATCH_ROWS", 400)
    sources = run_sources([_records_dir(tmp_path, 1000)])
    parquet, jsonl = tmp_path / "r.parquet", tmp_path / "r.jsonl"
    assert (
        tables.write_table(parquet, "parquet", REQUEST_COLUMNS, table_rows("requests", sources))
        == 1000
    )
    assert (
        tables.write_table(jsonl, "jsonl", REQUEST_COLUMNS, table_rows("requests", sources)) == 1000
    )
    file = pq.ParquetFile(parquet)
    assert file.metadata.num_row_groups == 3  # 400 + 400 + 200: one row group per batch
    assert str(file.schema_arrow.field("http_status").type) == "int64"
    assert str(file.schema_arrow.field("ttft_ms").type) == "double"
    from_parquet = file.read().to_pylist()
    from_jsonl = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert from_parquet == from_jsonl
    failed = [row for row in from_jsonl if row["status"] == "error"]
    assert failed, "the varied records include failures"
    assert all(row["error_category"] for row in failed)
    assert all(row["error_category"] is None for row in from_jsonl if row["status"] == "ok")
    # no run.json: times since the run's start are unknown, so null, not invented
    assert {row["sent_ms"] for row in from_jsonl} == {None}


def test_a_study_directory_exports_one_row_per_run_with_its_step(tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    main(["export", str(GOLDEN_V2 / "concurrency-sweep"), "--what", "runs",
          "--format", "csv", "--out", str(out)])  # fmt: skip
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [row["step"] for row in rows] == ["c1", "c2", "c4"]
    assert {row["study"] for row in rows} == {"concurrency-sweep"}
    for row in rows:
        run = read_run_file(
            GOLDEN_V2 / "concurrency-sweep" / row["directory"].split("/")[-1] / "run.json"
        )
        assert row["spec_hash"] == run.spec_hash
        assert run.summary is not None
        assert float(row["ttft_ms_p50"]) == run.summary.ttft_ms.p50


def test_parquet_without_pyarrow_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    with pytest.raises(ConfigError, match="pyarrow") as caught:
        tables.write_table(tmp_path / "x.parquet", "parquet", REQUEST_COLUMNS, iter(()))
    assert "llmbench[export]" in str(caught.value.hint)
    assert not (tmp_path / "x.parquet").exists()


def test_a_torn_last_line_is_skipped_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _records_dir(tmp_path, 5)
    with (directory / RECORDS_FILE).open("ab") as f:
        f.write(b'{"request_id": "cut')  # the line a killed run was writing
    out = tmp_path / "r.jsonl"
    main(["export", str(directory), "--format", "jsonl", "--out", str(out)])
    captured = capsys.readouterr()
    assert "wrote 5 rows" in captured.out
    assert "torn last line ignored" in captured.err
    assert len(out.read_text().splitlines()) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "otel", "--what", "runs"], "--what"),
        (["--format", "xml"], "xml"),
    ],
)
def test_bad_flags_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(CLOSED), *args, "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_spans_need_run_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _records_dir(tmp_path, 3)
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(directory), "--format", "otel", "--out", str(tmp_path / "o.jsonl")])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "run.json is missing" in err
    assert "--format csv" in err  # the fix: a table export needs no wall-clock anchor


def test_a_run_inside_a_study_knows_its_place_when_given_alone() -> None:
    (source,) = run_sources([GOLDEN_V2 / "concurrency-sweep" / "02-c2"])
    assert source.study is not None
    assert (source.study.study, source.study.step) == ("concurrency-sweep", "c2")
    (alone,) = run_sources([CLOSED])
    assert alone.study is None
