"""The locustfile ``retape locust`` hands to Locust (``-f``): one user class, configured
from ``RETAPE_LOCUST`` (see :mod:`.settings`), the same in every process Locust starts."""

from __future__ import annotations

from retape.replayer.locust.settings import Settings
from retape.replayer.locust.user import CassetteUser

_settings = Settings.from_env()


class RetapeUser(CassetteUser):
    """Replays the sessions named on the ``retape locust`` command line."""

    host = _settings.target
    cassettes = tuple(_settings.paths)
    bearer_env = _settings.bearer_env
    credential_headers = tuple(_settings.headers)
    secrets = tuple(_settings.secrets)
    timeout = _settings.timeout
    speed = _settings.speed
    compare = _settings.compare
    ignore = tuple(_settings.ignore)
    overlap = _settings.overlap
    ca_file = _settings.ca_file
    insecure = _settings.insecure
