"""Tests that start processes (the CLI, the demo target, recorders, upstreams) on loopback."""
