"""The recording side: mitmproxy flows in, cassette interactions out.

``recorder.cli`` only builds the ``retape record`` parser and must stay cheap to import;
mitmproxy is imported by ``recorder.run``/``recorder.addon`` when a recording starts.
"""
