"""Musical figures: our Krumhansl-Schmuckler key finding against music21's, and the rhythm and
chord figures on hand-made sequences."""

import numpy as np
import pytest

from liveplay.music.midifile import Note, notes_to_tokens
from liveplay.music.tokens import HOLD, REST
from liveplay.offline import musicality as m

CHORALES = ["bach/bwv66.6", "bach/bwv57.8", "bach/bwv26.6", "bach/bwv108.6", "bach/bwv145.5", "bach/bwv153.1",
            "bach/bwv248.33-3", "bach/bwv269", "bach/bwv347", "bach/bwv40.8", "bach/bwv70.7", "bach/bwv84.5"]


@pytest.fixture(scope="module")
def pieces():
    pytest.importorskip("music21", reason="the corpus extra (music21) is not installed")
    from music21 import corpus

    scores = [corpus.parse(name) for name in CHORALES]
    folk = corpus.parse("essenFolksong/altdeu10")
    scores += list(folk.scores)[:12]
    return scores


def test_the_key_of_a_histogram_is_music21s_key_for_the_same_histogram(pieces):
    from music21.analysis import discrete

    for score in pieces:
        flat = score.flatten()
        hist = np.array(discrete.AardenEssen()._getPitchClassDistribution(flat.notesAndRests), dtype=float)
        theirs = score.analyze("key")
        assert m.key_of(hist) == (theirs.tonic.pitchClass, theirs.mode), score.metadata.title


def test_keys_from_our_tokens_agree_with_music21_on_the_scores(pieces):
    """The grid (eighths, at most 4 notes, a chord sounding until the next onset) barely moves it."""
    from liveplay.offline.corpus import score_notes

    agree = 0
    for score in pieces:
        notes = score_notes(score)
        tokens = notes_to_tokens(notes, max(n.end for n in notes), 2, 4)
        theirs = score.analyze("key")
        agree += m.key_of(m.pitch_class_histogram(tokens)) == (theirs.tonic.pitchClass, theirs.mode)
    assert agree / len(pieces) >= 0.85, f"{agree} of {len(pieces)}"


def test_a_scale_and_a_cadence_have_their_key():
    c_major = [(60,), (62,), (64,), (65,), (67,), (69,), (71,), (72,), (60, 64, 67), HOLD, (55, 59, 62, 65), (60, 64, 67)]
    assert m.key_name(m.key_of(m.pitch_class_histogram(c_major))) == "C major"
    a_minor = [(57,), (59,), (60,), (62,), (64,), (65,), (68,), (69,), (57, 60, 64), (52, 56, 59, 62), (57, 60, 64)]
    assert m.key_name(m.key_of(m.pitch_class_histogram(a_minor))) == "A minor"
    fs = [tuple(p + 6 for p in t) if t not in (HOLD, REST) else t for t in c_major]
    assert m.key_name(m.key_of(m.pitch_class_histogram(fs))) == "F# major"  # every key alike
    assert m.key_of(m.pitch_class_histogram([REST, HOLD])) is None


def test_pitch_classes_weigh_by_how_long_they_sound():
    h = m.pitch_class_histogram([(60, 64), HOLD, HOLD, REST, (67,), REST])
    assert h[0] == 3 and h[4] == 3 and h[7] == 1 and h.sum() == 7
    assert m.cosine(h, h) == pytest.approx(1.0) and m.cosine(h, np.eye(12)[1]) == 0.0


def test_chord_share_and_inter_onset_intervals():
    tokens = [(60, 64), HOLD, (62,), REST, REST, REST, (60, 64, 67), (65,)]
    assert m.chord_share(tokens) == pytest.approx(2 / 4)
    ioi = m.ioi_histogram(tokens)
    assert ioi[1] == pytest.approx(1 / 3) and ioi[3] == pytest.approx(1 / 3) and ioi[0] == pytest.approx(1 / 3)
    assert m.overlap(ioi, ioi) == pytest.approx(1.0) and m.overlap(ioi, m.ioi_histogram([(60,), (61,)])) == \
        pytest.approx(1 / 3)


def test_quantisation_loss_counts_onsets_off_the_grid():
    notes = [Note(60, 0.0, 0.5, 80, 0), Note(62, 0.5, 1.0, 80, 0), Note(64, 0.75, 1.0, 80, 0),
             Note(65, 1.25, 1.5, 80, 0)]  # two sixteenths
    assert m.quantisation_loss(notes, 2) == pytest.approx(0.5)  # eighths move the sixteenths
    assert m.quantisation_loss(notes, 4) == 0.0
