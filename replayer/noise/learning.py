"""``--learn-noise``: find the fields that differ between two runs of the same build.

With the ``replay`` baseline (the default) every interaction is replayed once as a
learning pass, then again as the judged run; whatever differs between the two is
noise by definition, since nothing changed in between but time. The passes are at
least a second apart, so timestamps with one-second resolution differ too. With the
``recording`` baseline the recording itself is the first run: use it only against
the build that was recorded, since every difference is taken as noise.

Learned rules stay narrow, reviewable and current:

- only field-level differences are learned (a JSON path, a header); a changed status,
  a message missing from a sequence, or a whole body that differs is never noise
  (:func:`~retape.replayer.compare.ignore.rule_for`), and is counted so the run can
  say what it did not learn;
- each rule is written under its interaction's ``learned`` list with a comment naming
  where its difference was seen;
- learning again replaces an interaction's ``learned`` list: a rule stays only while
  it is still needed, either because the two passes differ there or because it still
  hides a difference from the recording (a server's start time, say, which two
  replays of one server share). Rules a person wrote (``ignore``) are never touched.

The learning pass keeps each interaction's outcome until its second run is judged, so
memory grows with the cassettes while learning (a one-off, reviewed step), unlike a
plain replay. The passes are scheduled like any replay (:mod:`replayer.schedule`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path

from retape.replayer.compare.aspects import DEEP, compare_outcomes, recorded_outcome
from retape.replayer.compare.diff_json import Difference
from retape.replayer.compare.ignore import IgnoreRules, covers, learn, rule_for, unlearnable
from retape.replayer.compare.keys import MessageRules
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

    def __init__(
        self,
        baseline: NoiseBaseline,
        *,
        messages_for: Callable[[Source], MessageRules] = lambda cassette: MessageRules(),
        base_rules: IgnoreRules | None = None,
    ) -> None:
        self.baseline = baseline
        self.messages_for = messages_for
        self.base_rules = base_rules or IgnoreRules()  # project-wide and --ignore rules
        self._first: dict[tuple[str, int], Outcome] = {}
        self.learned: dict[str, dict[int, list[str]]] = {}
        self.notes: dict[str, dict[int, dict[str, str]]] = {}
        self.not_learned: list[tuple[str, int, Difference]] = []

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
        """The rules for the judged run: the person's, plus what this interaction teaches."""
        reference = self._reference(cassette, interaction)
        if reference is None or reference.error or outcome.error:
            return rules
        if reference.status != outcome.status:
            return rules
        path = cassette.path or ""
        noise = read_noise(noise_path(path)) if path else None
        user = self.base_rules
        if noise is not None:
            user = user + noise.user_rules_for(interaction.id, where=str(noise_path(path)))
        old = noise.learned_for(interaction.id) if noise is not None else []
        messages = self.messages_for(cassette)

        def differences(expected: Outcome, recorded: bool) -> list[Difference]:
            return compare_outcomes(
                expected,
                outcome,
                aspects=DEEP,
                rules=user,
                messages=messages,
                interaction=interaction if recorded else None,
            )

        noisy = differences(reference, self.baseline is NoiseBaseline.RECORDING)
        new = learn(noisy, known=user)
        notes = {rule_for(d): f"{d.aspect} {d.where}".strip() for d in reversed(noisy)}
        if self.baseline is NoiseBaseline.REPLAY and old:
            against_recording = differences(recorded_outcome(interaction), True)
            for rule in old:
                if rule not in new and any(covers(rule, d) for d in against_recording):
                    new.append(rule)
                    notes[rule] = "kept: still differs from the recording"
        self.not_learned += [(path, interaction.id, d) for d in unlearnable(noisy)]
        new = sorted(set(new))
        if path and (new or old):
            self.learned.setdefault(path, {})[interaction.id] = new
            self.notes.setdefault(path, {})[interaction.id] = {
                rule: note for rule, note in notes.items() if rule in new and note
            }
        return user + IgnoreRules.parse(new, where="learned rule")

    def save(self) -> list[tuple[Path, int, int]]:
        """Rewrite each cassette's sidecar; ``(file, rules learned, rules dropped)``."""
        written: list[tuple[Path, int, int]] = []
        for cassette, learned in self.learned.items():
            path = noise_path(cassette)
            try:
                # pytest-xdist workers learn from one cassette side by side: read, replace
                # their interactions' lists and write under a lock on the cassette, so no
                # worker's rules are lost.
                with _locked(cassette):
                    before = read_noise(path)
                    noise = before.relearned(learned)
                    notes = self.notes[cassette]
                    write_noise(path, noise, cassette=Path(cassette).name, notes=notes)
            except OSError as exc:
                raise RetapeError(f"{path}: cannot write noise rules: {exc.strerror}") from None
            dropped = sum(
                len(set(before.learned_for(ident)) - set(rules)) for ident, rules in learned.items()
            )
            written.append((path, sum(len(rules) for rules in learned.values()), dropped))
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
