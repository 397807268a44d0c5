"""Embedded demo target: a tiny vLLM-shaped OpenAI-compatible server for `make demo` and tests.

It reproduces a real vLLM auth regression (websocket handshakes answered with HTTP 500) so
retape has something realistic to record, replay and diff.
"""
