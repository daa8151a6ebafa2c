"""`liveplay corpus` writes real MIDI from music21's collections, with sources and licenses."""

import json

import mido
import pytest

from liveplay import cli

pytest.importorskip("music21", reason="the corpus extra (music21) is not installed")


def test_every_set_of_the_mix_is_offered_on_the_command_line():
    from liveplay.offline.corpus import DEFAULT_SETS, OUTSIDE_SETS, SETS

    assert cli.CORPUS_SETS == tuple(SETS)
    assert cli.CORPUS_MIX == DEFAULT_SETS and len(DEFAULT_SETS) == 17 and not set(OUTSIDE_SETS) & set(DEFAULT_SETS)


def test_works_in_subfolders_keep_their_own_names():
    """Quartet movements share file names across opus folders: none may hide another."""
    from liveplay.offline.corpus import piece_stem, sources

    mozart = sources("mozart")
    assert len(mozart) == 16 and len({piece_stem(p) for p in mozart}) == 16
    assert piece_stem(mozart[0]) == "k155-movement1"


def test_export_writes_pieces_with_their_source_and_license(tmp_path, capsys):
    dest = tmp_path / "corpus"
    assert cli.main(["corpus", str(dest), "--set", "joplin", "--set", "oneills", "--limit", "1", "--jobs", "1"]) == 0
    manifest = json.loads((dest / "corpus.json").read_text())
    joplin, oneills = manifest["sets"]["joplin"], manifest["sets"]["oneills"]
    assert joplin["kind"] == "harmony" and oneills["kind"] == "melody"
    assert "public domain" in joplin["license"] and "license.txt" in joplin["license"]
    assert joplin["files"] == {"joplin/maple_leaf_rag.mid": "joplin/maple_leaf_rag.mxl"}
    assert oneills["pieces"] > 10 and all(src.startswith("oneills1850/") for src in oneills["files"].values())
    rag = mido.MidiFile(dest / "joplin" / "maple_leaf_rag.mid")
    notes = [m for m in mido.merge_tracks(rag.tracks) if m.type == "note_on" and m.velocity]
    assert len(notes) > 500  # the whole rag, both hands
    assert "joplin: 1 piece(s) written" in capsys.readouterr().out
    assert cli.main(["corpus", str(dest), "--set", "schubert", "--jobs", "1"]) == 0  # a later export adds
    assert set(json.loads((dest / "corpus.json").read_text())["sets"]) == {"joplin", "oneills", "schubert"}


def _tune(title: str, pitches: list[str]):
    from music21 import metadata, note, stream

    score, part = stream.Score(), stream.Part()
    for p in pitches:
        part.append(note.Note(p, quarterLength=1))
    score.insert(0, part)
    score.metadata = metadata.Metadata(title=title)
    return score


def test_an_opus_of_one_pieces_voices_is_joined_a_book_of_tunes_is_not():
    from music21 import stream

    from liveplay.offline.corpus import pieces_of, score_notes

    voices = stream.Opus()
    for pitches in (["C5", "D5", "E5", "F5"], ["E4", "F4", "G4", "A4"], ["C3", "B2", "C3", "F2"]):
        voices.append(_tune("Adieu", pitches))
    (name, piece), = pieces_of(voices, "adieu")
    notes = score_notes(piece)
    assert name == "adieu" and len(notes) == 12 and {n.channel for n in notes} == {0, 1, 2}
    assert sorted(n.pitch for n in notes if n.start == 0) == [48, 64, 72]  # three voices at once: a chord
    variants = stream.Opus()  # one song's variants share a title, not a length (Essen's ballads)
    for pitches in (["C5", "D5", "E5", "F5"], ["E4", "F4", "G4", "A4", "B4", "C5"]):
        variants.append(_tune("Graf und Nonne", pitches))
    assert [n for n, _ in pieces_of(variants, "ballad")] == ["ballad-0001", "ballad-0002"]
    tunes = stream.Opus()
    for title in ("The Kesh", "The Butterfly"):
        tunes.append(_tune(title, ["G4", "A4", "B4", "D5"]))
    assert [n for n, _ in pieces_of(tunes, "book")] == ["book-0001", "book-0002"]


def test_the_josquin_chansons_are_exported_as_polyphony(tmp_path):
    """music21 encodes each voice of a Josquin chanson as a tune of its own in one ABC file."""
    dest = tmp_path / "corpus"
    (dest / "josquin").mkdir(parents=True)  # an earlier export wrote the voices one by one
    earlier = {f"josquin/4vPerIlludAveProlatum-000{i}.mid": "josquin/4vPerIlludAveProlatum.abc" for i in (1, 2)}
    earlier["../outside.mid"] = "josquin/4vPerIlludAveProlatum.abc"  # a file elsewhere: never deleted
    earlier["josquin/adieuMesAmours-0001.mid"] = "josquin/adieuMesAmours.abc"  # a source --limit 1 leaves alone
    for f in [*earlier, "josquin/mine.mid"]:
        (dest / f).write_bytes(b"MThd")
    (dest / "corpus.json").write_text(json.dumps({"sets": {"josquin": {"files": earlier}}}))
    assert cli.main(["corpus", str(dest), "--set", "josquin", "--limit", "1", "--jobs", "1"]) == 0
    files = json.loads((dest / "corpus.json").read_text())["sets"]["josquin"]["files"]
    assert list(files) == ["josquin/4vPerIlludAveProlatum.mid"]
    assert sorted(p.name for p in (dest / "josquin").iterdir()) == [
        "4vPerIlludAveProlatum.mid", "adieuMesAmours-0001.mid", "mine.mid"]
    assert (tmp_path / "outside.mid").is_file()
    from liveplay.music.midifile import read_notes

    notes, _ = read_notes(dest / "josquin" / "4vPerIlludAveProlatum.mid")
    starts = [n.start for n in notes]
    assert len(notes) > 150 and len(starts) - len(set(starts)) > 30  # two voices: many onsets together
