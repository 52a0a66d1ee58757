"""Fixtures of ``tests/``: the tiny pipeline and the loopback Hub (offline, threads and the per-test
cache are the repository's ``conftest.py``).

Plain helpers (signals, encoded audio) live in ``helpers.py``; fixtures only here."""

from __future__ import annotations

import pytest

from baton_tta.tiny import tiny_tango_pipeline
from hub_server import LoopbackHubServer, hub_endpoint


@pytest.fixture
def tiny_pipe():
    pipe = tiny_tango_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture
def loopback_hub(request):
    """A Hub API server on 127.0.0.1 that every Hub client in this process talks to; a test that
    uses it is marked ``hub`` (select or skip them with ``-m hub`` / ``-m "not hub"``)."""
    request.node.add_marker(pytest.mark.hub)
    with LoopbackHubServer() as server, hub_endpoint(server.endpoint):
        yield server
