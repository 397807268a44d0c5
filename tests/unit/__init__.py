"""Pure tests: no processes, no sockets; each runs in milliseconds to seconds."""
