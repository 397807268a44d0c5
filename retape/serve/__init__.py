"""``retape serve``: a cassette played back as the server it recorded.

:mod:`.match` decides which recorded interaction answers a request and, when none
does, which one was closest and why it differs (pure, no I/O); :mod:`.server` is the
aiohttp application that answers with the recorded status, headers, body, stream pacing
and websocket turns; :mod:`.run` owns options, lifetime and the summary on exit.
The server never opens a connection of its own: nothing is ever forwarded.
"""
