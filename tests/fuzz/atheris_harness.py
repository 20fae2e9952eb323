"""Coverage-guided fuzz (atheris, optional) of the SSE decoder + observation path and of the
simulator's request parser. Run: `python tests/fuzz/atheris_harness.py -runs=100000`; exits
non-zero on the first input that raises anything but the expected categorized failure.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from llmbench.clients.http import RequestFault
    from llmbench.clients.observation import Observation
    from llmbench.clients.sse import SSEDecoder
    from llmbench.records import RequestError, RequestSpec, SendContext
    from llmbench.sim.protocol import ApiError, parse_request

SPEC = RequestSpec(item_id="i", prompt="p", max_tokens=4)
CTX = SendContext(request_id="r", target_id="t", worker_id=0, scheduled_ns=0)


def _client(fdp: atheris.FuzzedDataProvider) -> None:
    decoder, obs = SSEDecoder(), Observation(None, sent_ns=0)
    error = None
    try:
        while fdp.remaining_bytes():
            piece = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64))
            for event in decoder.feed(piece):
                obs.on_data(event.data, 1)
                if obs.done:
                    return
        decoder.finish()
    except RequestFault as fault:
        error = RequestError(fault.category, fault.message)
    obs.record(SPEC, CTX, error)


def _sim(fdp: atheris.FuzzedDataProvider) -> None:
    kind = "chat" if fdp.ConsumeBool() else "completions"
    # A refusal with its status is the expected answer to a bad body.
    with contextlib.suppress(ApiError):
        parse_request(fdp.ConsumeBytes(fdp.remaining_bytes()), kind, "llmbench-sim", 100)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    (_client if fdp.ConsumeBool() else _sim)(fdp)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
