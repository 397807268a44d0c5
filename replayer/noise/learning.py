"""``--learn-noise``: find the fields that differ between two runs of the same build.

With the ``replay`` baseline (the default) every interaction is replayed once as a
learning pass, then again as the judged run; whatever differs between the two is
noise by definition, since nothing changed in between but time. The passes are at
least a second apart, so timestamps with one-second resolution differ too. With the
``recording`` baseline the recording itself is the first run: use it only against
the build that was recorded, since every difference is taken as noise.

Only field-level differences are learned (a JSON path, a header); a changed status or
a message missing from a sequence is never noise. Learned rules are added to the
cassette's sidecar (:mod:`replayer.noise_file`) and used at once by the judged run.
The learning pass keeps each interaction's outcome until its second run is judged, so
memory grows with the cassettes while learning (a one-off, reviewed step), unlike a
plain replay. The passes are scheduled like any replay (:mod:`replayer.schedule`): the
whole learning pass, then the gap, then the whole judged pass.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

from retape.replayer.compare.aspects import DEEP, compare_outcomes, recorded_outcome
from retape.replayer.compare.ignore import IgnoreRules, learn
from retape.replayer.engine import Replayer, Source
from retape.replayer.noise.file import noise_path, read_noise, write_noise
from retape.replayer.results import Outcome

from retape.cassette.model import Interaction
from retape.common.errors import RetapeError

PASS_GAP = 1.05  # seconds between the passes: second-resolution timestamps change
LOCK_WAIT = 10.0  # seconds to wait for another process saving rules for the same cassette


class NoiseBaseline(StrEnum):
    REPLAY = "replay"
    RECORDING = "recording"


class NoiseLearner:
    pass_gap = PASS_GAP

    def __init__(self, baseline: NoiseBaseline, *, message_key: str) -> None:
        self.baseline = baseline
        self.message_key = message_key
        self._first: dict[tuple[str, int], Outcome] = {}
        self.learned: dict[str, dict[int, list[str]]] = {}

    @property
    def first_pass(self) -> bool:
        return self.baseline is NoiseBaseline.REPLAY

    async def observe(self, replayer: Replayer, cassette: Source, interaction: Interaction) -> None:
        outcome, _ = await replayer.session_outcome(cassette, interaction)
        outcome.details = {}
        self._first[(cassette.path or "", interaction.id)] = outcome

    def _reference(self, cassette: Source, interaction: Interaction) -> Outcome | None:
        if self.baseline is NoiseBaseline.RECORDING:
            return recorded_outcome(interaction)
        return self._first.pop((cassette.path or "", interaction.id), None)

    def learn(
        self, cassette: Source, interaction: Interaction, outcome: Outcome, rules: IgnoreRules
    ) -> IgnoreRules:
        """``rules`` plus what this interaction's two runs teach."""
        reference = self._reference(cassette, interaction)
        if reference is None or reference.error or outcome.error:
            return rules
        if reference.status != outcome.status:
            return rules
        differences = compare_outcomes(
            reference,
            outcome,
            aspects=DEEP,
            rules=rules,
            message_key=self.message_key,
            interaction=interaction if self.baseline is NoiseBaseline.RECORDING else None,
        )
        new = learn(differences, known=rules)
        if not new:
            return rules
        self.learned.setdefault(cassette.path or "", {})[interaction.id] = new
        return rules + IgnoreRules.parse(new, where="learned rule")

    def save(self) -> list[tuple[Path, int]]:
        """Add what was learned to each cassette's sidecar; ``(file, rules added)``."""
        written: list[tuple[Path, int]] = []
        for cassette, learned in self.learned.items():
            path = noise_path(cassette)
            try:
                # pytest-xdist workers learn from one cassette side by side: read, merge and
                # write under a lock on the cassette, so no worker's rules are lost.
                with _locked(cassette):
                    noise = read_noise(path).merged(learned)
                    write_noise(path, noise, cassette=Path(cassette).name)
            except OSError as exc:
                raise RetapeError(f"{path}: cannot write noise rules: {exc.strerror}") from None
            written.append((path, sum(len(rules) for rules in learned.values())))
        return written


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (opened read-only) for the duration.

    Bounded: a cassette a recorder is still writing stays locked, and learning says so
    rather than wait for it.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RetapeError(
                        f"{path}: locked for over {LOCK_WAIT:g}s (is a recorder writing it?); "
                        "noise rules not saved"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock
