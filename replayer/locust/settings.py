"""What ``retape locust`` tells the Locust processes it starts, through one variable.

Locust imports the locustfile itself, in every process it starts (``--processes``
forks, workers on other machines), so retape's settings travel in the environment as
``RETAPE_LOCUST`` (JSON). Only names travel: ``--bearer-env VAR`` sends ``VAR``, and each
process reads the value from its own environment, so no credential is ever in argv, in
this variable or in a log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from retape.common.errors import RetapeError

VARIABLE = "RETAPE_LOCUST"


@dataclass(frozen=True)
class Settings:
    paths: list[str]  # cassette files or directories, absolute
    target: str
    bearer_env: str | None = None
    headers: list[str] = field(default_factory=list)  # 'Name: ${VAR}' templates
    secrets: list[str] = field(default_factory=list)  # N=VAR
    timeout: float = 10.0
    speed: float | None = None
    compare: str = "status"
    ignore: list[str] = field(default_factory=list)
    overlap: bool = False
    ca_file: str | None = None
    insecure: bool = False

    def to_env(self) -> dict[str, str]:
        return {VARIABLE: json.dumps(asdict(self))}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        raw = (os.environ if environ is None else environ).get(VARIABLE)
        if not raw:
            raise RetapeError(
                f"{VARIABLE} is not set: start this locustfile with 'retape locust', or "
                "subclass retape.replayer.locust.CassetteUser in a locustfile of your own"
            )
        data: dict[str, Any] = json.loads(raw)
        return cls(**data)
