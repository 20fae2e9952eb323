"""Coverage-guided fuzz (atheris, optional) of the SSE decoder + observation path, of the
simulator's request parser and of the run-spec loader. Run: `python
tests/fuzz/atheris_harness.py -runs=100000`; exits non-zero on the first input that raises
anything but the expected categorized failure.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from llmbench.clients.http import RequestFault
    from llmbench.clients.observation import Observation
    from llmbench.clients.sse import SSEDecoder
    from llmbench.config.problems import validate_run_spec
    from llmbench.config.specfile import parse_spec
    from llmbench.errors import ConfigError
    from llmbench.records import RequestError, RequestSpec, SendContext
    from llmbench.sim.server.protocol import ApiError, parse_request

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


def _spec(fdp: atheris.FuzzedDataProvider) -> None:
    # A located ConfigError is the expected answer to a bad spec file.
    with contextlib.suppress(ConfigError):
        document = parse_spec(fdp.ConsumeBytes(fdp.remaining_bytes()), "fuzz.yaml")
        validate_run_spec(document.data, document.where)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    (_client, _sim, _spec)[fdp.ConsumeIntInRange(0, 2)](fdp)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
