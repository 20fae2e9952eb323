"""Thinking end is the chunk completing the first marker; actuation times by action."""

from __future__ import annotations

from array import array

from llmbench.config.agent_loop import ActuationSpec
from llmbench.records import Reply, RequestRecord, Status
from llmbench.run.agent_loop import thinking_end_ns


def _reply(texts: list[str], offsets: list[int]) -> Reply:
    record = RequestRecord(
        "r", "t", "i", 0, Status.OK, scheduled_ns=0, sent_ns=1000,
        chunk_offsets_ns=array("q", offsets),
    )  # fmt: skip
    return Reply(record, tuple(texts))


def test_the_marker_split_over_chunks_ends_in_the_chunk_completing_it() -> None:
    reply = _reply([" I will", " tap. do(act", 'ion="Tap",', " element=[1,2])"], [5, 9, 14, 20])
    assert thinking_end_ns(reply, ["do(action=", "finish(message="]) == 1000 + 14
    assert thinking_end_ns(reply, ["finish(message="]) is None
    # the first marker to appear wins, whichever is listed first
    early = _reply([" finish(message=", ' "x") do(action='], [3, 7])
    assert thinking_end_ns(early, ["do(action=", "finish(message="]) == 1003


def test_actuation_seconds_follow_open_autoglm() -> None:
    act = ActuationSpec()
    assert act.seconds("Tap") == act.seconds("Swipe") == act.seconds("Launch") == 1.0
    assert act.seconds("Double Tap") == 1.1
    assert act.seconds("Type") == 4.0
    assert act.seconds(None) == act.seconds("Wait") == 1.0
