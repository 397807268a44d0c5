"""Replaying cassettes against a live target and reporting which statuses changed.

Importing this package must stay cheap: the ``retape`` CLI imports ``replayer.cli`` at
startup, and only the ``replay`` handler pulls in the network stack (aiohttp,
websockets). Nothing here imports ``recorder`` or mitmproxy.
"""
