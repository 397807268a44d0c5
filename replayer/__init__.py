"""Replaying cassettes against a live target and reporting what changed.

Statuses always; with ``--compare``, headers, bodies (JSON structurally, SSE as event
sequences) and websocket message sequences, minus ignore rules and learned noise; with
``--auth-matrix``, probes that each recorded credential is still required. Reports go
to the terminal, JSON, JUnit, Markdown, or pytest through :mod:`replayer.pytest_plugin`.

Importing this package must stay cheap: the ``retape`` CLI imports ``replayer.cli`` at
startup and pytest loads the plugin in every run, and only an actual replay pulls in
the network stack (aiohttp, websockets). Nothing here imports ``recorder`` or mitmproxy.
"""
