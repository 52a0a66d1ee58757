"""Sharing on the Hugging Face Hub: cards, figures, pushes and dataset uploads (the loopback Hub
server the tests use lives in ``tests/hub_server.py``)."""
