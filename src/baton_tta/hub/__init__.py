"""Sharing on the Hugging Face Hub: cards, pushes, and a loopback Hub server for offline tests."""
