"""The performance: what liveplay plays at each step, from what it heard. Pure: no threads, no
ports, no clock reading -- values in, values out, so every mode and control is unit-tested.

The threaded player (``player.py``) calls, for each step k, in this order:

1. ``hear(messages, input_step)`` with the input drained since the last call
   (each message stamped in the rtmidi callback). Controls act; the musician's notes are put
   in the step their stamp falls in (``timing.py``'s rule), however late they are read. It
   returns the ``Effect``s the player carries out on the note writer and the clock.
2. ``fold(k - 1)``: step k-1's token id for the context -- the musician's chord (or HOLD while
   their keys are down) where they played and the mode listens, else what we played. The
   player then pushes it into ``context`` (the model's step, outside its lock).
3. ``decide(k)``: the token to play at boundary k (REST while respond mode listens).

and after sending each boundary, ``performed(k, token, sounding)``.

Modes (``config.MODES``): respond -- silent while the musician plays; after ``silence_steps``
steps without their input it answers for at most ``max_response_steps`` steps, and stops at
the next boundary when they play again; accompany -- plays every step, the musician's chords
enter the context (they replace ours for that step); solo -- plays alone, input only controls.

**Accompany with a duet model** (``Voice``, ``model.duet``): a second model whose context
interleaves the two parts step by step -- ours for step k, then the musician's for step k -- so
what it predicts after the musician's step k-1 is our part for step k: an accompaniment of what
they played, not a guess at their next notes. Both models hear every step whatever the mode
(``push``), so a mode change by CC plays at once from a context that knows the music so far.
Until either part plays (at the start, after reset-context) the duet's context stays at the top
of a piece and accompany mode rests (``Voice.wait``): the musician's first note begins it.

A key held down sustains the musician's chord (HOLD in the context) for at most
``HELD_LIMIT_BEATS`` beats after their last onset; past that it is taken as a stuck key (a lost
note-off) and no longer keeps respond mode quiet.

Our notes coming back on the input (a loop through a DAW): ``is_ours(message, stamp)`` (the note
writer's echo test) drops them before they count.

Controls come from one table, CC number -> handler, built from ``ControlSettings``; CC 120 (all
sound off) and 123 (all notes off) always silence our notes, on the controls' channel.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

import mido

from liveplay.config import MODES, ControlSettings, LiveSettings, SamplerSettings
from liveplay.model.inkey import KeyKeeper
from liveplay.music.context import Context
from liveplay.music.duet import RESTART_PRIME, ours_before_theirs
from liveplay.music.sampler import Sampler
from liveplay.music.tokens import HOLD, REST, REST_ID, RawToken, Vocabulary, describe

log = logging.getLogger(__name__)

HELD_LIMIT_BEATS = 8  # keys down longer than this without a new onset are taken as stuck
ALL_SOUND_OFF, ALL_NOTES_OFF = 120, 123
MAX_ONSETS = 128  # one step's chord keeps its highest notes anyway: a flood cannot grow this

# what the player carries out
SILENCE = "silence"  # panic: every note we sound off, then CC 123 on our channel
RELEASE = "release"  # end the notes we sound (mode switch, mute)
FORWARD = "forward"  # passthrough: send the musician's note on to the output
TEMPO = "tempo"  # a tempo change from the next boundary on


@dataclass(frozen=True)
class Effect:
    kind: str
    value: object = None


class Stamped(Protocol):
    time: float  # time.monotonic() in the rtmidi callback
    message: mido.Message


@dataclass
class Voice:
    """A duet model's vocabulary and context (its ids: the start pair, then ours and the
    musician's token of each step in turn), and its own sampler (``SamplerSettings.accompanying``)."""

    vocab: Vocabulary
    context: Context
    sampler: Sampler
    waiting: bool = True  # neither part has played since the start or the last restart

    def restart(self) -> None:
        """Start afresh between steps (reset-context): the parts stay at their indices, ours
        even and the musician's odd, or the model hears their melody as its own part."""
        self.context.reset(RESTART_PRIME)
        self.waiting = True

    def wait(self) -> None:
        """Until either part plays, stay at the top of a piece (called after our token of a step):
        a duet model learned pieces that begin at once, and after bars of silence from both
        parts it no longer knows which part is its own (models/duet/README.md, "Waiting for the
        musician"), so the silence before the music does not enter the context. Accompany mode
        rests meanwhile (``Performance._decide``): the musician's first note starts the piece."""
        if self.silent() and len(self.context.ids) > len(RESTART_PRIME) + 1:
            self.context.reset(RESTART_PRIME)

    def silent(self) -> bool:
        """Neither part has played since the start or the last restart (the context holds RESTs
        only: a few ids, as ``wait`` keeps it)."""
        if self.waiting and any(i != REST_ID for i in self.context.ids):
            self.waiting = False
        return self.waiting

    def ours(self) -> list[int]:
        """Our part's ids in the context, oldest first (the sampler's repetition test): after a
        whole step the last id is the musician's, so ours are every other one from the second last."""
        return ours_before_theirs(self.context.ids)


class Performance:
    def __init__(self, vocab: Vocabulary, context: Context, sampler: Sampler, live: LiveSettings,
                 controls: ControlSettings, steps_per_beat: int,
                 is_ours: Callable[[mido.Message, float], bool] = lambda msg, stamp: False,
                 duet: Voice | None = None, keeper: KeyKeeper | None = None):
        self.vocab, self.context, self.sampler = vocab, context, sampler
        self.duet = duet
        self.keeper = keeper  # our answers keep the musician's key (model.key_keeping)
        self._theirs: int | None = None  # the duet's id of the musician's token of the step folded
        self._heard = False  # the step folded is the musician's (the main context's ``theirs``)
        self._later: list[tuple[Context, int, bool]] = []  # model steps that can wait for the decision
        self.steps_per_beat = steps_per_beat
        self.is_ours = is_ours
        self.mode = live.mode
        self.muted = False  # CC mute: thinking and listening go on, nothing sounds
        self.responding = 0  # steps answered in the current response (respond mode)
        self.quiet = 0  # steps since the musician's last input
        self.since_onset = 0  # steps since the musician's last onset
        self.held: set[int] = set()  # the musician's keys down
        self.onsets: dict[int, list[int]] = {}  # step -> pitches that began in its input window
        self.played: dict[int, RawToken] = {}  # step -> what we played (recent steps)
        self._velocities: deque[int] = deque(maxlen=8)
        self.velocity = live.velocity
        self.configure(live, controls)

    def configure(self, live: LiveSettings, controls: ControlSettings) -> list[Effect]:
        """New settings (start, or a reload while playing); the mode among them."""
        self.live, self.controls = live, controls
        self._table = self._control_table(controls)
        self._update_velocity()
        return self.set_mode(live.mode)

    # -- 1. hearing -----------------------------------------------------------------------

    def hear(self, messages: Iterable[Stamped], input_step: Callable[[float], int | None],
             listen: Callable[[Stamped], None] | None = None) -> list[Effect]:
        """Take one drain of stamped input; returns what the player must do now. ``listen`` is
        given every message taken as the musician's (not our own notes coming back)."""
        effects: list[Effect] = []
        for stamped in messages:
            msg = stamped.message
            if msg.type in ("note_on", "note_off") and self.is_ours(msg, stamped.time):
                is_off = msg.type == "note_off" or msg.velocity == 0
                if not (is_off and msg.note in self.held):  # an echo's note-off still lifts a key
                    continue  # that went down before the loop was recognised
            if listen is not None:
                listen(stamped)
            if msg.type == "control_change":
                effects += self.control(msg)
            elif msg.type in ("note_on", "note_off"):
                if self.live.passthrough:
                    effects.append(Effect(FORWARD, msg))
                if msg.type == "note_on" and msg.velocity > 0:
                    self.held.add(msg.note)
                    self._velocities.append(msg.velocity)
                    step = input_step(stamped.time)
                    if step is not None:  # None: the DAW is stopped, notes played meanwhile are let go
                        self.onsets.setdefault(step, []).append(msg.note)
                else:
                    self.held.discard(msg.note)
            # anything else (sysex, aftertouch, bend...) is not ours to act on
        for pitches in self.onsets.values():
            del pitches[:-MAX_ONSETS]
        self._update_velocity()
        return effects

    def forget_input(self) -> None:
        """Notes heard while the transport is stopped do not count for later steps."""
        self.onsets.clear()

    def lost_input(self) -> None:
        """The keyboard went away: its keys down are forgotten (their note-offs will not come)."""
        self.held.clear()

    def _update_velocity(self) -> None:
        v = self._velocities
        follow = self.live.follow_velocity and v
        self.velocity = max(1, min(127, round(sum(v) / len(v)))) if follow else self.live.velocity

    # -- controls -------------------------------------------------------------------------

    def _control_table(self, c: ControlSettings) -> dict[int, Callable[[int, int], list[Effect]]]:
        table = {getattr(c, name): handler for name, handler in (
            ("temperature", self._temperature), ("mode", self._mode), ("tempo", self._tempo),
            ("panic", self._panic), ("mute", self._mute), ("reset_context", self._reset_context),
        ) if getattr(c, name) is not None}
        table[ALL_SOUND_OFF] = table[ALL_NOTES_OFF] = self._all_off  # always, whatever else is mapped
        return table

    def control(self, msg: mido.Message) -> list[Effect]:
        c = self.controls
        if c.channel and msg.channel != c.channel - 1:
            return []
        handler = self._table.get(msg.control)
        return handler(msg.control, msg.value) if handler else []

    def _all_off(self, cc: int, value: int) -> list[Effect]:
        log.info("panic (CC %d): all our notes silenced", cc)
        return [Effect(SILENCE)]

    def _panic(self, cc: int, value: int) -> list[Effect]:
        return self._all_off(cc, value) if value >= 64 else []

    def _temperature(self, cc: int, value: int) -> list[Effect]:
        lo, hi = self.sampler.settings.min_temperature, self.sampler.settings.max_temperature
        temperature = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * value / 127)
        for sampler in self._samplers():
            sampler.set_temperature(temperature)
        log.info("temperature %.2f (CC %d = %d)", temperature, cc, value)
        return []

    def _samplers(self) -> list[Sampler]:
        return [self.sampler] + ([self.duet.sampler] if self.duet is not None else [])

    @property
    def temperature(self) -> float:
        """The temperature of the sampler that decides now (the duet's in accompany mode)."""
        return (self.duet.sampler if self._duet_decides() else self.sampler).temperature

    def _mode(self, cc: int, value: int) -> list[Effect]:
        return self.set_mode(MODES[min(len(MODES) - 1, value * len(MODES) // 128)])

    def _mute(self, cc: int, value: int) -> list[Effect]:
        muted = value >= 64
        if muted == self.muted:
            return []
        self.muted = muted
        log.info("%s (CC %d = %d)", "muted" if muted else "unmuted", cc, value)
        return [Effect(RELEASE)] if muted else []

    def _reset_context(self, cc: int, value: int) -> list[Effect]:
        if value >= 64:
            self.context.reset()
            if self.duet is not None:
                self.duet.restart()
            log.info("context reset (CC %d): starting afresh", cc)
        return []

    def _tempo(self, cc: int, value: int) -> list[Effect]:
        c = self.controls
        bpm = c.tempo_min + (c.tempo_max - c.tempo_min) * value / 127
        return [Effect(TEMPO, (bpm, f"CC {cc} = {value}"))]  # the player's timing decides

    def set_mode(self, mode: str) -> list[Effect]:
        if mode == self.mode:
            return []
        self.mode = mode
        self.responding = 0
        log.info("mode %s", mode)
        return [Effect(RELEASE)]

    def set_sampler(self, settings: SamplerSettings) -> None:
        self.sampler.configure(settings)
        if self.duet is not None:
            self.duet.sampler.configure(settings.accompanying())

    # -- 2. folding -----------------------------------------------------------------------

    def fold(self, step: int) -> int:
        """Step ``step``'s token id for the context: the musician's token, else what we played."""
        pitches = [p for s in sorted(s for s in self.onsets if s <= step) for p in self.onsets.pop(s)]
        player: RawToken | None
        if pitches:
            player = self.vocab.cut(pitches)
            self.since_onset = 0
        else:
            self.since_onset += 1
            stuck = self.since_onset > HELD_LIMIT_BEATS * self.steps_per_beat
            player = HOLD if (self.held and not stuck) else None
        if player is None:
            self.quiet += 1
        else:
            self.quiet = 0
            self.responding = 0
        ours = self.played.get(step, REST)
        self._heard = player is not None and self.mode != "solo"
        token = player if self._heard else ours
        token_id = self.vocab.encode_token(token)
        if self._heard:
            log.debug("step %d: the musician's %s enters the context as %s", step, describe(player),
                      describe(self.vocab.decode_token(token_id)))
        if self.duet is not None:  # the duet hears the musician as they played (nothing in solo)
            theirs = player if (player is not None and self.mode != "solo") else REST
            if pitches and theirs is player:  # cut by the duet's own chord shape, not the main model's
                theirs = self.duet.vocab.cut(pitches)
            self._theirs = self.duet.vocab.encode_token(theirs)
        return token_id

    def _duet_decides(self) -> bool:
        return self.mode == "accompany" and self.duet is not None

    def push(self, token_id: int) -> None:
        """The model steps for the step just folded (``fold``'s id; the duet's musician token kept
        by it). Only the deciding model's step is taken now; the other waits for ``settle``."""
        if self.duet is None:
            self.context.push(token_id, self._heard)
            return
        main, duet = (self.context, token_id, self._heard), (self.duet.context, self._theirs, True)
        (context, token, theirs), later = (duet, main) if self._duet_decides() else (main, duet)
        context.push(token, theirs)
        self._later.append(later)

    def settle(self) -> None:
        """The model steps that waited for the decision (the player calls this once the decided
        token is stored): the other model's step, and the duet's own token for the step decided
        (what will sound: REST while muted), so its context reads ours, then theirs, step by step;
        then each engine's next step as far as it goes without the musician's next token."""
        later, self._later = self._later, []
        for context, token_id, theirs in later:
            context.push(token_id, theirs)
        self.context.prepare()  # the next steps' token-free halves, while the input comes in
        if self.duet is not None:
            self.duet.wait()
            self.duet.context.prepare()

    # -- 3. deciding ----------------------------------------------------------------------

    def decide(self, step: int) -> RawToken:
        token = self._decide()
        if self.duet is not None:  # after every model step of this step, in ``settle``
            self._later.append((self.duet.context, self.duet.vocab.encode_token(self.to_play(token)), False))
        return token

    def _decide(self) -> RawToken:
        if self.mode == "respond":
            if self.quiet < self.live.silence_steps or self.responding >= self.live.max_response_steps:
                return REST
            self.responding += 1
        if self._duet_decides():
            duet = self.duet
            if duet.silent():  # nothing to accompany yet: an opening guessed in silence would start a piece
                return REST
            return duet.vocab.decode_token(duet.sampler.sample(duet.context.distribution(), duet.ours()))
        probs = self.context.distribution()
        if self.keeper is not None:  # in the musician's key, as far as the window has heard them
            probs = self.keeper.answer(probs, self.context)
        token_id = self.sampler.sample(probs, self.context.ids)
        return self.vocab.decode_token(token_id)

    def performed(self, step: int, token: RawToken, sounding: bool) -> None:
        """What boundary ``step`` played (HOLD over silence is silence): the context's 'ours'."""
        self.played[step] = token if (token != HOLD or sounding) else REST
        self.played.pop(step - 8, None)

    def to_play(self, token: RawToken) -> RawToken:
        """What actually sounds of a decided token: REST instead of a chord while muted."""
        return REST if (self.muted and token != HOLD) else token

    # -- reporting ------------------------------------------------------------------------

    def describe(self) -> str:
        tail = " ".join(describe(self.vocab.decode_token(t)) for t in self.context.tail(16))
        return (f"mode {self.mode}, temperature {self.temperature:.2f}"
                f"{', muted' if self.muted else ''}, context tail: {tail}")
