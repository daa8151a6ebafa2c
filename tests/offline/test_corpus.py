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
