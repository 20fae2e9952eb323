"""Results directory on a real file system: round trip, torn last line, schema version."""

from __future__ import annotations

import json
from array import array
from pathlib import Path

import pytest

from llmbench.errors import SchemaVersionError, StoreError
from llmbench.records import (
    Channel,
    CountSource,
    ErrorCategory,
    RequestError,
    RequestRecord,
    Status,
)
from llmbench.store.results import RECORDS_FILE, RUN_FILE, RunWriter, load_run, read_run_file

RUNNING = Path(__file__).parents[2] / "golden" / "results-v1" / "running" / RUN_FILE


def record(n: int, *, ok: bool = True) -> RequestRecord:
    return RequestRecord(
        request_id=f"r-{n}",
        target_id="t",
        item_id=f"i-{n}",
        worker_id=0,
        status=Status.OK if ok else Status.ERROR,
        scheduled_ns=1_000,
        sent_ns=1_000,
        first_token_ns=2_000,
        first_content_ns=2_000,
        end_ns=5_000,
        chunk_offsets_ns=array("q", [1_000, 2_000, 4_000]),
        chunk_tokens=array("I", [1, 2, 1]),
        chunk_channels=array("B", [Channel.CONTENT] * 3),
        output_tokens=4,
        output_tokens_source=CountSource.USAGE,
        error=None if ok else RequestError(ErrorCategory.HTTP_5XX, "boom", 500),
    )


def test_round_trip(tmp_path: Path) -> None:
    started = read_run_file(RUNNING)
    with RunWriter(tmp_path / "run") as writer:
        writer.write_run(started)
        writer.append(record(0))
        writer.append(record(1, ok=False))
    loaded = load_run(tmp_path / "run")
    assert loaded.warnings == []
    assert loaded.run == started
    assert json.loads((tmp_path / "run" / RUN_FILE).read_text())["schema_version"] == 1
    assert loaded.records == [record(0), record(1, ok=False)]


def test_each_record_is_on_disk_before_close(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path / "run")
    writer.append(record(0))
    lines = (tmp_path / "run" / RECORDS_FILE).read_text().splitlines()
    assert len(lines) == 1  # flushed at once, not at close
    writer.close()


def test_torn_last_line_is_ignored_with_a_warning(tmp_path: Path) -> None:
    with RunWriter(tmp_path / "run") as writer:
        writer.append(record(0))
    with (tmp_path / "run" / RECORDS_FILE).open("a") as f:
        f.write('{"request_id": "r-1", "tar')  # the process died mid-write
    loaded = load_run(tmp_path / "run")
    assert [r.request_id for r in loaded.records] == ["r-0"]
    assert any("torn last line" in w for w in loaded.warnings)
    assert any("run.json is missing" in w for w in loaded.warnings)


def test_corrupt_middle_line_is_an_error_with_its_line(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    directory.mkdir()
    line = json.dumps(record(0).to_json_dict())
    (directory / RECORDS_FILE).write_text(f"{line}\nnot json\n{line}\n")
    with pytest.raises(StoreError, match=r"records.jsonl:2"):
        load_run(directory)


def test_unknown_schema_version(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    directory.mkdir()
    (directory / RUN_FILE).write_text('{"schema_version": 99}')
    with pytest.raises(SchemaVersionError, match="99"):
        load_run(directory)


def test_refuses_to_overwrite_a_run(tmp_path: Path) -> None:
    RunWriter(tmp_path / "run").close()
    with pytest.raises(StoreError, match="already holds a run"):
        RunWriter(tmp_path / "run")


def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot write results"):
        RunWriter(blocker / "run")


class _FullDisk:
    """A file object that takes `room` more characters, then fails like a full disk."""

    def __init__(self, room: int) -> None:
        self.room, self.closed_with_error = room, False

    def write(self, text: str) -> int:
        if len(text) > self.room:
            raise OSError(28, "No space left on device")
        self.room -= len(text)
        return len(text)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed_with_error = True
        raise OSError(28, "No space left on device")


def test_a_failed_append_stops_appending_and_says_how_many_were_kept(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path / "run")
    writer._records.close()
    line = len(json.dumps(record(0).to_json_dict(), separators=(",", ":"))) + 1
    writer._records = _FullDisk(room=2 * line)  # type: ignore[assignment]
    assert [writer.append(record(n)) for n in range(4)] == [True, True, False, False]
    assert writer.failure is not None
    assert "No space left on device" in writer.failure.message
    assert "2 records were written before" in writer.failure.message
    writer.close()  # the retried flush fails again: already reported, not raised
