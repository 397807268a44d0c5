"""The replay options (:mod:`replayer.options`) checked and turned into what a replay uses.

One function for both front ends: ``retape replay`` passes its argparse namespace, the
pytest plugin the same names read from its ``--retape-*`` options
(:func:`replayer.options.from_pytest`). Every value is validated here, before any
cassette is read or any request sent, so a typo costs nothing; a mistake is a
:class:`RetapeError` naming the CLI flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retape.replayer.auth.credentials import Credentials, credentials_from_args
from retape.replayer.compare.aspects import Comparison, parse_aspects
from retape.replayer.compare.ignore import IgnoreRules
from retape.replayer.compare.keys import MessageRules
from retape.replayer.config import ReplayConfig, load_config, parse_refusal
from retape.replayer.net.target import Target, parse_target
from retape.replayer.schedule import Pacing

from retape.common.errors import RetapeError

if TYPE_CHECKING:
    from retape.replayer.noise.learning import NoiseLearner


@dataclass(frozen=True)
class Settings:
    """Everything the options decide, parsed; the project's pyproject settings included."""

    target: Target
    credentials: Credentials
    comparison: Comparison
    config: ReplayConfig  # [tool.retape.*], with --refusal applied
    ignore: IgnoreRules  # the project's rules plus --ignore
    timeout: float
    auth_matrix: bool
    learn_noise: bool
    noise_baseline: str
    deadline: float | None
    pacing: Pacing
    markdown: str | None

    def learner(
        self, messages_for: Callable[[Any], MessageRules] | None = None
    ) -> NoiseLearner | None:
        """A fresh noise learner for ``--learn-noise`` (``None`` without it);
        ``messages_for`` gives each cassette's message rules (its ``.noise.toml``)."""
        if not self.learn_noise:
            return None
        from retape.replayer.noise.learning import NoiseBaseline, NoiseLearner

        defaults = self.config.messages
        return NoiseLearner(
            NoiseBaseline(self.noise_baseline),
            messages_for=messages_for or (lambda cassette: defaults),
            base_rules=self.ignore,
        )


def settings_from(values: argparse.Namespace) -> Settings:
    """Check every option once; the first mistake found is raised as a one-line error."""
    target = parse_target(values.target, insecure=values.insecure, ca_file=values.ca_file)
    credentials = credentials_from_args(
        bearer_env=values.bearer_env, header_specs=values.headers, secret_specs=values.secrets
    )
    aspects = parse_aspects(values.compare)
    config = load_config()
    if values.refusal:
        config = replace(config, refusal=parse_refusal(values.refusal, where="--refusal"))
    return Settings(
        target=target,
        credentials=credentials,
        comparison=Comparison(aspects, config.message_key),
        config=config,
        ignore=config.ignore
        + IgnoreRules.parse(values.ignore, where="--ignore")
        + IgnoreRules.shape(values.shape, where="--shape"),
        timeout=values.timeout,
        auth_matrix=values.auth_matrix,
        learn_noise=values.learn_noise,
        noise_baseline=values.noise_baseline,
        deadline=values.deadline,
        pacing=Pacing(
            concurrency=values.concurrency,
            ordered=not values.unordered,
            rate=values.rate,
            speed=values.speed,
        ),
        markdown=values.markdown,
    )


def check_writable(flag: str, path: str | None) -> None:
    """A report file that cannot be written fails before any traffic, not after the run."""
    if path is None:
        return
    parent = Path(path).parent
    if not parent.is_dir():
        raise RetapeError(f"{flag} {path}: directory {parent} does not exist")
    if Path(path).is_dir():
        raise RetapeError(f"{flag} {path}: is a directory")
