"""Traffic captured elsewhere into cassettes, and cassettes out to other tools.

``retape import`` reads HAR 1.2 files (Chrome, Firefox, mitmproxy's ``hardump``) and
mitmproxy flow files (``mitmdump -w``); ``retape export`` writes them. An import is a
second way in beside ``retape record``, so every imported interaction takes the same
path to disk as a recorded one: one :class:`~retape.cassette.redact.Redactor` for the
cassette, then the same correlation inference, then the cassette writer.

Layering: these modules never import the replayer (scripts/check_layers.py). Only the
flow-file modules need mitmproxy (the ``[record]`` extra), imported lazily.
"""
