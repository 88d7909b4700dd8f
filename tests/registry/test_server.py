"""Hypercorn's configuration for the registry: the Date header stays right while built once a second."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from registry.server import hypercorn_config


def date_of(headers: list[tuple[bytes, bytes]]) -> float:
    (value,) = [value for name, value in headers if name == b"date"]
    return parsedate_to_datetime(value.decode()).timestamp()


def wait_for_a_new_second() -> None:
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


def test_the_date_header_is_the_current_second_and_moves_with_the_clock() -> None:
    config = hypercorn_config("127.0.0.1", 0, 1.0)
    wait_for_a_new_second()

    first = config.response_headers("h11")
    assert date_of(first) == int(time.time())
    assert config.response_headers("h11") == first
    wait_for_a_new_second()
    assert date_of(config.response_headers("h11")) == int(time.time())
    assert date_of(config.response_headers("h11")) > date_of(first)


def test_each_protocol_keeps_its_own_server_header_and_callers_get_their_own_list() -> None:
    config = hypercorn_config("127.0.0.1", 0, 1.0)

    h11, h2 = config.response_headers("h11"), config.response_headers("h2")
    assert (b"server", b"hypercorn-h11") in h11
    assert (b"server", b"hypercorn-h2") in h2
    h11.append((b"x-extra", b"1"))
    assert (b"x-extra", b"1") not in config.response_headers("h11")
