"""retape: record real HTTP + WebSocket traffic into YAML cassettes, replay it in CI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("retape")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
