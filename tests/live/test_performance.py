"""The pure performance core: every mode and every control, without threads, ports or a clock."""

import dataclasses
import math

import mido
import numpy as np
import pytest

from liveplay.config import load_settings
from liveplay.live.inputs import Stamped
from liveplay.live.performance import (FORWARD, HELD_LIMIT_BEATS, MAX_ONSETS, RELEASE, SILENCE, TEMPO,
                                       Effect, Performance, Voice)
from liveplay.music.context import Context
from liveplay.music.duet import START_PRIME
from liveplay.music.sampler import Sampler
from liveplay.music.tokens import HOLD, HOLD_ID, REST, REST_ID, Vocabulary

CHORDS = [(60, 64, 67), (62, 65, 69), (64, 67, 71), (65, 69, 72)]  # ids 2..5


class FixedEngine:
    """Always puts most of its weight on one chord (id 3), the rest spread evenly."""

    context_length = 16
    vocab_size = 6

    def __init__(self):
        self.pushed: list[int] = []

    def reset(self, tokens=()):
        self.pushed = list(tokens)

    def push(self, token):
        self.pushed.append(int(token))

    def distribution(self):
        p = np.full(self.vocab_size, 0.02)
        p[3] = 1 - 0.02 * (self.vocab_size - 1)
        return p


def make(mode="respond", **overrides):
    flags = {"live.mode": mode, "live.silence_steps": 2, "live.max_response_steps": 3,
             "sampler.min_temperature": 0.05, "sampler.temperature": 0.05}
    flags.update(overrides)
    s = load_settings().override(flags)
    engine = FixedEngine()
    ours = set()
    p = Performance(Vocabulary(CHORDS, 4), Context(engine), Sampler(s.sampler, seed=0), s.live, s.controls, 2,
                    is_ours=lambda msg, stamp: msg.note in ours)
    return p, engine, ours


def note(pitch, velocity=90, at=0.0, channel=0):
    return Stamped(at, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel))


def off(pitch, at=0.0):
    return Stamped(at, mido.Message("note_off", note=pitch, channel=0))


def cc(control, value, channel=0):
    return Stamped(0.0, mido.Message("control_change", control=control, value=value, channel=channel))


def every_step_is(step):
    return lambda stamp: step


def step(p, k, heard=(), input_step=None):
    """One thinker round for step k: hear, fold k-1 into the context, decide k."""
    effects = p.hear(heard, input_step or every_step_is(k - 1))
    p.push(p.fold(k - 1))
    token = p.decide(k)
    p.settle()  # as the player does, once the decision is stored
    return token, effects


# -- modes ----------------------------------------------------------------------------------------


class DuetEngine(FixedEngine):
    """A duet model that always answers one chord (id 5: F major), whatever it heard."""

    def distribution(self):
        p = np.full(self.vocab_size, 0.02)
        p[5] = 1 - 0.02 * (self.vocab_size - 1)
        return p


def test_accompany_with_a_duet_model_plays_its_part_and_both_models_hear_every_step():
    p, engine, _ = make("respond", **{"live.silence_steps": 1, "live.max_response_steps": 100})
    duet_engine = DuetEngine()
    p.duet = Voice(Vocabulary(CHORDS + [(60,), (62,), (64,), (67,), (72,)], 4), Context(duet_engine, START_PRIME),
                   Sampler(p.sampler.settings.accompanying(), seed=0))
    assert duet_engine.pushed == [REST_ID, REST_ID]  # the start pair
    assert p.decide(0) == REST  # respond listens; the player decides step 0 at start, then settles
    p.settle()
    melody = [60, 62, 64]
    for k, pitch in enumerate(melody, start=1):  # respond: listening while they play
        assert step(p, k, [note(pitch)])[0] == REST
        p.performed(k, REST, False)
    # the duet heard (ours, theirs) for each step, in order; the single model the musician's notes
    heard = [p.duet.vocab.decode_token(t) for t in duet_engine.pushed[2:]]
    assert heard == [REST, (60,), REST, (62,), REST, (64,), REST]  # steps 0-2 (ours silent, theirs a
    # melody), then ours for step 3: decided, so heard before the musician's step 3
    assert engine.pushed[-3:] == [p.vocab.encode_token((m,)) for m in melody]
    assert list(p.context.theirs)[-3:] == [True] * 3  # the single model's pushes, made in settle, are theirs
    p.set_mode("accompany")
    played = []
    for k in range(4, 12):
        token, _ = step(p, k, [note(67)] if k % 2 else [])
        played.append(token)
        p.performed(k, token, True)
    assert played.count((65, 69, 72)) >= 7, played  # the duet model's chord, not the single model's (62, 65, 69)
    # the single model's steps wait for settle in accompany: the musician's (their G, and the keys
    # they hold down between strokes) still enter as theirs
    assert list(p.context.theirs)[-8:] == [True] * 8
    pushed = duet_engine.pushed
    assert len(pushed) % 2 == 1 and pushed[-1] == p.duet.vocab.encode_token(played[-1])  # ours, decided last
    assert p.duet.vocab.decode_token(pushed[-2]) == (67,)  # theirs before it: step 10's note
    p.set_mode("solo")  # solo: the duet's musician part is silence (the input only controls)
    step(p, 12, [note(72)])
    assert p.duet.vocab.decode_token(duet_engine.pushed[-2]) == REST
    p.set_mode("accompany")
    step(p, 13, [cc(p.controls.reset_context, 127), note(72)])  # reset-context mid-play, then a note
    # the duet starts afresh with ours still at even indices: its start pair, our REST for step 12,
    # their note of step 12, our answer for step 13 (a musician's note at an even index would be
    # heard as liveplay's own part, and a key frame would listen to the wrong part)
    assert duet_engine.pushed[:4] == [REST_ID, REST_ID, REST_ID, p.duet.vocab.encode_token((72,))]
    ours = duet_engine.pushed[2::2]
    assert len(ours) == 2 and p.duet.vocab.decode_token(ours[-1]) == (65, 69, 72)


def test_a_duet_waits_at_the_top_of_a_piece_until_either_part_plays():
    """The silence before the music stays out of the duet's context, at the start and after a
    restart, and accompany rests meanwhile (its model would play a chord): at the musician's first
    note the model reads what it would had they played at once."""
    def play(silent: int) -> list[list[int]]:
        p, _, _ = make("accompany")
        engine = DuetEngine()
        p.duet = Voice(Vocabulary(CHORDS, 4), Context(engine, START_PRIME), Sampler(p.sampler.settings, seed=0))
        p.decide(0)
        p.settle()
        steps = iter(range(1, 100))
        heard = []
        for restart in (False, True):
            if restart:  # reset-context, then silence again
                step(p, next(steps), [cc(p.controls.reset_context, 127)])
            for _ in range(silent):
                assert step(p, next(steps))[0] == REST
                assert engine.pushed == [REST_ID] * 3  # the start pair, our REST for the step
            for heard_now in ([note(60)], [off(60)], [], []):  # they play one note
                k = next(steps)
                p.performed(k, step(p, k, heard_now)[0], True)
            heard.append(list(engine.pushed))
        return heard

    at_once, after_silence = play(0), play(12)
    assert at_once == after_silence  # the same context, at the start and after a restart, however long the silence
    chord, note_id = (Vocabulary(CHORDS, 4).encode_token(t) for t in (CHORDS[3], (60,)))
    for pushed in at_once:  # the start pair, then ours and theirs of each step: silence, their note, our answers
        assert pushed == [REST_ID, REST_ID, REST_ID, note_id, chord, REST_ID, chord, REST_ID, chord, REST_ID, chord]


def test_respond_is_silent_while_the_musician_plays_then_answers_at_most_max_response_steps():
    p, _, _ = make("respond")
    assert step(p, 1, [note(60)])[0] == REST  # playing
    assert step(p, 2, [off(60)])[0] == REST  # 1 quiet step < silence_steps (2)
    answers = [step(p, k)[0] for k in range(3, 9)]
    assert answers[:3] == [CHORDS[1]] * 3  # the model's choice (id 3), for max_response_steps (3)
    assert answers[3:] == [REST] * 3  # then quiet again until the musician plays
    assert step(p, 9, [note(62)])[0] == REST and p.responding == 0


def test_respond_stops_at_the_next_decision_when_the_musician_plays_again():
    p, _, _ = make("respond", **{"live.max_response_steps": 50})
    step(p, 1, [note(60), off(60)])
    assert [step(p, k)[0] for k in (2, 3, 4)] == [REST, CHORDS[1], CHORDS[1]]
    assert step(p, 5, [note(64)])[0] == REST


def test_accompany_plays_every_step_and_the_musicians_chord_replaces_ours_in_the_context():
    p, engine, _ = make("accompany")
    p.performed(0, CHORDS[0], sounding=True)
    token, _ = step(p, 1, [note(62), note(65), note(69), off(62), off(65), off(69)])  # D minor: id 3
    assert token == CHORDS[1]
    assert engine.pushed[-1] == 3  # the musician's chord, not ours (id 2), entered the context
    p.performed(1, CHORDS[2], sounding=True)
    step(p, 2)  # the musician is silent: our own token for step 1 enters
    assert engine.pushed[-1] == 4


def test_solo_keeps_its_own_context_and_only_listens_to_controls():
    p, engine, _ = make("solo")
    p.performed(0, CHORDS[0], sounding=True)
    assert p.hear([note(62), note(65), note(69), cc(20, 127)], every_step_is(0)) == []
    assert p.sampler.temperature == pytest.approx(p.sampler.settings.max_temperature)
    p.context.push(p.fold(0))
    assert engine.pushed[-1] == 2  # ours, not the musician's chord
    assert p.decide(1) in CHORDS


def test_the_answer_keeps_the_key_the_musician_played_in_and_their_steps_are_marked():
    """With a key keeper (``model.key_keeping``) the context marks the musician's steps as theirs and
    ours as ours; the answer bends toward what they played: after their C major the model's
    favourite D minor (no class of it heard) gives way to C major. Solo hears no musician."""
    from liveplay.model.inkey import KeyKeeper

    answers = {}
    for weight in (0.0, 3.0):
        p, _, _ = make("respond")
        p.keeper = KeyKeeper(p.vocab, weight, FixedEngine.context_length, FixedEngine.vocab_size)
        step(p, 1, [note(60), note(64), note(67), off(60), off(64), off(67)])
        answers[weight] = [step(p, k)[0] for k in (2, 3, 4)]
        assert list(p.context.theirs)[-4:] == [True, False, False, False]  # their chord, then our steps
    assert answers[0.0][1:] == [CHORDS[1]] * 2  # the model's choice, D minor
    assert answers[3.0][1:] == [CHORDS[0]] * 2  # in the key they played: C major
    p, _, _ = make("solo")
    p.keeper = KeyKeeper(p.vocab, 3.0, FixedEngine.context_length, FixedEngine.vocab_size)
    assert [step(p, k, [note(60), note(64), note(67)] if k == 1 else [])[0] for k in (1, 2, 3)] == [CHORDS[1]] * 3
    assert not any(p.context.theirs)


def test_a_held_key_sustains_the_musicians_chord_until_it_is_taken_as_stuck():
    p, engine, _ = make("respond", **{"live.silence_steps": 1})
    step(p, 1, [note(60)])  # the key stays down: no note-off ever
    limit = HELD_LIMIT_BEATS * 2
    tokens = [step(p, k)[0] for k in range(2, limit + 2)]
    assert tokens == [REST] * limit and engine.pushed[-1] == HOLD_ID  # a held chord keeps respond quiet
    assert step(p, limit + 2)[0] == CHORDS[1]  # past the limit the key is stuck: it answers


def test_a_player_folds_the_chord_of_all_onsets_of_its_step_keeping_the_highest_notes():
    p, engine, _ = make("accompany")
    step(p, 1, [note(n) for n in (40, 60, 64, 67, 72, 76)])
    assert p.vocab.decode_token(engine.pushed[-1]) in CHORDS  # (64, 67, 72, 76) maps to the nearest


def test_each_model_hears_a_wide_chord_cut_by_its_own_voicing():
    p, engine, _ = make("accompany")
    p.vocab = Vocabulary([(48, 67, 72), (64, 67, 72), *CHORDS[:2]], 3, voicing="outer")  # keeps the bass
    duet_engine = DuetEngine()
    p.duet = Voice(Vocabulary([(60, 64, 67, 72), (48, 67, 72), *CHORDS[2:]], 4), Context(duet_engine, START_PRIME),
                   Sampler(p.sampler.settings.accompanying(), seed=0))
    p.decide(0)
    p.settle()
    step(p, 1, [note(n) for n in (48, 60, 64, 67, 72)])
    assert p.vocab.decode_token(engine.pushed[-1]) == (48, 67, 72)  # bass and the two highest
    assert p.duet.vocab.decode_token(duet_engine.pushed[-2]) == (60, 64, 67, 72)  # the duet's highest four (then ours)


# -- quantisation by the stamp ----------------------------------------------------------------------


def test_a_note_belongs_to_the_step_its_stamp_falls_in_however_late_it_is_read():
    p, engine, _ = make("accompany")
    by_stamp = lambda stamp: int(stamp)  # noqa: E731 (step k's window: stamps in [k, k+1))
    # the thinker is late: when it reads the input for step 5 a note of step 6 has already come
    early, late = note(62, at=5.5), note(65, at=6.2)
    p.hear([early, late], by_stamp)
    assert p.fold(5) == p.vocab.encode_token((62,))  # only the note stamped in step 5's window
    assert p.fold(6) == p.vocab.encode_token((65,))  # the late one waited for its own step
    # a note stamped in a step that was folded already joins the next fold (it is not lost)
    p.hear([note(67, at=3.1)], by_stamp)
    assert p.fold(7) == p.vocab.encode_token((67,))


def test_notes_while_the_transport_is_stopped_are_let_go_but_keys_still_tracked():
    p, _, _ = make("accompany")
    p.hear([note(60)], lambda stamp: None)
    assert p.onsets == {} and p.held == {60}


# -- our own notes, passthrough, velocity, a flood ------------------------------------------------


def test_our_own_notes_coming_back_are_ignored():
    p, engine, ours = make("accompany")
    ours.add(64)
    step(p, 1, [note(64)])
    assert engine.pushed[-1] == REST_ID and p.quiet == 1


def test_passthrough_forwards_the_musicians_notes():
    p, _, _ = make("accompany", **{"live.passthrough": True})
    _, effects = step(p, 1, [note(60), off(60)])
    assert [e.kind for e in effects] == [FORWARD, FORWARD]
    assert effects[0].value.type == "note_on" and effects[1].value.type == "note_off"


def test_velocity_follows_the_last_eight_notes_or_stays_fixed():
    p, _, _ = make("accompany")
    assert p.velocity == p.live.velocity
    p.hear([note(60, velocity=v) for v in (10, 20, 30, 40, 50, 60, 70, 80, 120)], every_step_is(0))
    assert p.velocity == round(sum((20, 30, 40, 50, 60, 70, 80, 120)) / 8)
    fixed, _, _ = make("accompany", **{"live.follow_velocity": False})
    fixed.hear([note(60, velocity=10)], every_step_is(0))
    assert fixed.velocity == fixed.live.velocity


def test_a_flood_of_onsets_in_one_step_is_capped():
    p, _, _ = make("accompany")
    p.hear([note(i % 128) for i in range(10_000)], every_step_is(3))
    assert len(p.onsets[3]) == MAX_ONSETS


def test_hold_over_silence_is_remembered_as_rest():
    p, _, _ = make("solo")
    p.performed(4, HOLD, sounding=False)
    p.performed(5, HOLD, sounding=True)
    assert p.played[4] == REST and p.played[5] == HOLD
    p.performed(13, CHORDS[0], sounding=True)
    assert 5 not in p.played  # only recent steps are kept


# -- controls ------------------------------------------------------------------------------------


def test_accompany_draws_with_the_duets_own_sampler_and_controls_reach_both():
    p, _, _ = make("accompany", **{"sampler.heat": 1.1, "sampler.accompany_heat": 1.5, "sampler.cool": 0.95,
                                   "sampler.temperature": 0.1, "sampler.min_temperature": 0.05})
    p.duet = Voice(Vocabulary(CHORDS, 4), Context(DuetEngine(), START_PRIME),
                   Sampler(p.sampler.settings.accompanying(), seed=0))
    assert (p.sampler.settings.heat, p.duet.sampler.settings.heat) == (1.1, 1.5)
    for k in range(1, 9):  # the duet model answers one chord: its tail repeats, its sampler heats
        token, _ = step(p, k, [note(60), off(60)] if k == 1 else [])  # from the musician's first note
        p.performed(k, token, True)
    assert p.sampler.temperature == 0.1  # the single-stream model's sampler drew nothing
    t = p.duet.sampler.temperature  # 0.1, heated by 1.5 (not 1.1) on a repeating tail, else cooled
    assert t > 0.1 and any(t == pytest.approx(0.1 * 1.5 ** a * 0.95 ** (8 - a)) for a in range(1, 9))
    assert p.temperature == t
    p.set_mode("solo")
    assert p.temperature == p.sampler.temperature
    p.control(cc(20, 0).message)  # the temperature control sets both
    assert p.sampler.temperature == p.duet.sampler.temperature == pytest.approx(0.05)
    s = load_settings().override({"sampler.heat": 1.3, "sampler.accompany_heat": 1.7})
    p.set_sampler(s.sampler)  # a reload reaches both, each with its own heat
    assert (p.sampler.settings.heat, p.duet.sampler.settings.heat) == (1.3, 1.7)


def test_temperature_cc_maps_0_127_onto_the_clamp_on_a_log_scale():
    p, _, _ = make("solo", **{"sampler.min_temperature": 0.5, "sampler.max_temperature": 2.0})
    p.control(cc(20, 0).message)
    assert p.sampler.temperature == pytest.approx(0.5)
    p.control(cc(20, 127).message)
    assert p.sampler.temperature == pytest.approx(2.0)
    p.control(cc(20, 64).message)
    assert p.sampler.temperature == pytest.approx(math.exp(math.log(0.5) + math.log(4) * 64 / 127))


@pytest.mark.parametrize("value,mode", [(0, "respond"), (42, "respond"), (43, "accompany"), (85, "accompany"),
                                        (86, "solo"), (127, "solo")])
def test_mode_cc_thirds_and_a_switch_releases_our_notes(value, mode):
    p, _, _ = make("respond" if mode != "respond" else "solo")
    assert p.control(cc(21, value).message) == [Effect(RELEASE)]
    assert p.mode == mode
    assert p.control(cc(21, value).message) == []  # no switch, nothing to release


def test_tempo_cc_asks_for_a_tempo_between_min_and_max():
    p, _, _ = make("solo")
    (effect,) = p.control(cc(22, 127).message)
    assert effect.kind == TEMPO and effect.value[0] == p.controls.tempo_max
    assert p.control(cc(22, 0).message)[0].value[0] == p.controls.tempo_min


def test_panic_cc_and_all_notes_off_silence():
    p, _, _ = make("solo")
    assert p.control(cc(23, 127).message) == [Effect(SILENCE)]
    assert p.control(cc(23, 10).message) == []  # a button's release does nothing
    assert p.control(cc(120, 0).message) == [Effect(SILENCE)]
    assert p.control(cc(123, 0).message) == [Effect(SILENCE)]


def test_mute_releases_and_turns_decisions_into_rest_until_unmute():
    p, _, _ = make("solo")
    assert p.control(cc(24, 127).message) == [Effect(RELEASE)] and p.muted
    assert p.to_play(CHORDS[0]) == REST and p.to_play(HOLD) == HOLD
    assert p.control(cc(24, 127).message) == []  # already muted
    assert p.control(cc(24, 0).message) == [] and not p.muted
    assert p.to_play(CHORDS[0]) == CHORDS[0]


def test_reset_context_cc_starts_afresh_from_rest():
    p, engine, _ = make("accompany")
    for k in range(1, 6):
        step(p, k, [note(60)] if k == 2 else [])
    assert len(p.context) > 1 and any(p.context.theirs)
    p.control(cc(25, 127).message)
    assert list(p.context) == [REST_ID] and engine.pushed == [REST_ID]
    assert list(p.context.theirs) == [False]  # the musician's notes before the reset are gone too
    p.control(cc(25, 0).message)
    assert list(p.context) == [REST_ID]


def test_the_control_channel_filters_and_unmapped_controls_do_nothing():
    p, _, _ = make("solo", **{"controls.channel": 2})
    p.configure(p.live, dataclasses.replace(p.controls, panic=None))
    assert p.control(cc(120, 0, channel=0).message) == []  # channel 1: not ours
    assert p.control(cc(120, 0, channel=1).message) == [Effect(SILENCE)]
    assert p.control(cc(23, 127, channel=1).message) == []  # panic unmapped
    assert p.control(cc(77, 127, channel=1).message) == []


def test_a_reload_remaps_the_controls_and_switches_mode():
    p, _, _ = make("respond")
    s = load_settings().override({"controls.panic": 77, "live.mode": "solo"})
    assert p.configure(s.live, s.controls) == [Effect(RELEASE)] and p.mode == "solo"
    assert p.control(cc(77, 127).message) == [Effect(SILENCE)]
    assert p.control(cc(23, 127).message) == []
