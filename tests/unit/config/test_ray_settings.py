"""`--ray` settings are checked before anything starts: an address Ray's own parser would refuse
(logging a traceback first), and workers without a cluster to place them on."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmbench.config.ray import RaySettings


@pytest.mark.parametrize(
    "address", ["local", "auto", "10.0.0.5:6379", "head:6379", "ray://h:10001"]
)
def test_addresses_ray_takes(address: str) -> None:
    assert RaySettings(address=address).address == address


@pytest.mark.parametrize("address", ["", ":", "head", "head:port", "head:0", ":6379"])
def test_an_address_that_is_not_host_port_is_refused(address: str) -> None:
    with pytest.raises(ValidationError, match="is not the head's HOST:PORT"):
        RaySettings(address=address)


def test_workers_need_a_cluster() -> None:
    with pytest.raises(ValidationError, match=r"needs ray\.address"):
        RaySettings(workers=3)
    assert RaySettings(address="local", workers=3).workers == 3
