"""``liveplay`` command line: run / learn / ports / prepare / train / generate / evaluate / render / corpus.

The parser and ``main`` are here; the commands are in ``cli.live`` and ``cli.offline``, what they
share (logging, ``--config`` and the settings) in ``cli.common``.
Exit codes: 0 ok, 1 runtime failure, 2 bad usage, config, data or model file.
"""

from __future__ import annotations

import argparse
import sys

from liveplay import __version__
from liveplay.cli.common import log, setup_logging
from liveplay.cli.live import cmd_learn, cmd_ports, cmd_run
from liveplay.cli.offline import (cmd_corpus, cmd_evaluate, cmd_generate, cmd_longterm, cmd_prepare, cmd_render,
                                  cmd_train)
from liveplay.config import ENGINES, LEARNABLE, MODES
from liveplay.errors import EXIT_RUNTIME, LiveplayError

# the corpus sets, named here so that `--help` does not import music21 (offline.corpus.SETS; a test
# keeps the two in step)
CORPUS_SETS = ("bach", "essen", "oneills", "beethoven", "mozart", "haydn", "monteverdi", "trecento", "josquin",
               "schumann_robert", "schumann_clara", "chopin", "joplin", "schubert", "handel", "corelli", "cpebach",
               "ryans", "palestrina")
CORPUS_MIX = CORPUS_SETS[:-2]  # the default: the training mix (the last two are outside it, to judge models on)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liveplay", description="Real-time MIDI improvisation with an LSTM.")
    parser.add_argument("--version", action="version", version=f"liveplay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", metavar="FILE", help="settings file on top of the shipped config.yaml (default: "
                       "$XDG_CONFIG_HOME/liveplay/config.yaml when it exists)")
        p.set_defaults(func=func)
        return p

    p = command("run", cmd_run, "Listen on a MIDI input and answer on a MIDI output, in tempo.")
    p.add_argument("--model", metavar="DIR", help="model bundle (default: model.path)")
    p.add_argument("--in", dest="input", metavar="PORT", help="input port, name or part of it (default: live.input)")
    p.add_argument("--out", dest="output", metavar="PORT", help="output port, name or part of it (default: live.output)")
    p.add_argument("--mode", choices=MODES, help="default: live.mode")
    p.add_argument("--tempo", type=float, metavar="BPM", help="default: live.tempo_bpm")
    p.add_argument("--temperature", type=float, metavar="T", help="start temperature (default: sampler.temperature)")
    p.add_argument("--api", choices=("auto", "alsa", "jack"), help="MIDI system (default: live.api)")
    p.add_argument("--prime", metavar="FILE.mid", help="solo: MIDI file that starts the context (default: live.prime)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (default: sampler.seed)")
    p.add_argument("--engine", choices=ENGINES, help="runtime (default: engine)")
    p.add_argument("--clock", choices=("internal", "midi"), help="follow the MIDI clock on the input, or keep "
                   "our own tempo (default: clock.source)")
    p.add_argument("--send-clock", action="store_true", help="send MIDI clock and Start/Stop on the output "
                   "(internal clock; default: clock.send)")
    p.add_argument("--record", metavar="FILE.mid", help="write the session to a MIDI file: your notes and "
                   "liveplay's on their own tracks, saved every bar (default: live.record)")
    p.add_argument("--synth", action="store_true", help="start FluidSynth on the same MIDI system and play "
                   "into it, so you hear liveplay at once (default: live.synth)")

    p = command("learn", cmd_learn, "Map a control to the next knob you move: saved in your config file.")
    p.add_argument("control", metavar="CONTROL", choices=[c.replace("_", "-") for c in LEARNABLE],
                   help="one of: " + ", ".join(c.replace("_", "-") for c in LEARNABLE))
    p.add_argument("--in", dest="input", metavar="PORT", help="input port, name or part of it (default: "
                   "live.input; none: a virtual port 'liveplay-learn:in')")
    p.add_argument("--api", choices=("auto", "alsa", "jack"), help="MIDI system (default: live.api)")
    p.add_argument("--timeout", type=float, metavar="S", help="give up after S seconds (default: wait)")

    p = command("ports", cmd_ports, "List the MIDI inputs and outputs of the chosen API.")
    p.add_argument("--api", choices=("auto", "alsa", "jack"), help="MIDI system (default: live.api)")

    p = command("prepare", cmd_prepare, "Tokenise MIDI files in parallel into a prepared folder of shards for "
                "train (again: only new or changed files are read).")
    p.add_argument("data", nargs="+", metavar="DATA", help="MIDI files or folders (searched recursively)")
    p.add_argument("--out", required=True, metavar="DIR", help="prepared folder to write or bring up to date")
    p.add_argument("--jobs", type=int, metavar="N", help="tokenising processes (default: prepare.jobs)")

    p = command("train", cmd_train, "Train a model bundle from MIDI files or a prepared folder (resumes if OUT "
                "holds one; --from fine-tunes another; TF_CONFIG: one worker of several).")
    p.add_argument("data", nargs="+", metavar="DATA", help="MIDI files or folders (searched recursively), or one "
                   "folder made by liveplay prepare")
    p.add_argument("--out", required=True, metavar="DIR", help="bundle folder to write")
    p.add_argument("--epochs", type=int, metavar="N", help="most epochs (default: train.epochs)")
    p.add_argument("--from", dest="base", metavar="BUNDLE", help="fine-tune this bundle on DATA (e.g. your own "
                   "playing, recorded with run --record): its vocabulary and weights are the start")
    p.add_argument("--split-from", metavar="BUNDLE", help="a new run keeps this bundle's train/validation/test "
                   "side for every file it names (to compare the two on the same held-out files); only other "
                   "files are split")

    p = command("generate", cmd_generate, "Continue a prime (or silence) and write a MIDI file.")
    p.add_argument("--model", metavar="DIR", help="model bundle (default: model.path)")
    p.add_argument("--out", required=True, metavar="FILE.mid", help="MIDI file to write")
    p.add_argument("--steps", type=int, metavar="N", help="steps to generate (default: generate.steps)")
    p.add_argument("--prime", metavar="FILE.mid", help="MIDI file whose last steps start the context")
    p.add_argument("--temperature", type=float, metavar="T", help="start temperature (default: sampler.temperature)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (default: sampler.seed)")
    p.add_argument("--tempo", type=float, metavar="BPM", help="tempo written to the file (default: generate.tempo_bpm)")
    p.add_argument("--engine", choices=ENGINES, help="runtime (default: engine)")

    p = command("evaluate", cmd_evaluate, "Score a model on held-out files against n-gram baselines.")
    p.add_argument("data", nargs="*", metavar="DATA", help="held-out MIDI files or folders")
    p.add_argument("--split", choices=("train", "validation", "test"),
                   help="also evaluate on this split's files as recorded in the model's manifest")
    p.add_argument("--model", metavar="DIR", help="model bundle (default: model.path)")
    p.add_argument("--train-data", nargs="+", metavar="DIR", help="data to fit the baselines on "
                   "(default: the manifest's training files, if on disk)")
    p.add_argument("--json", action="store_true", help="print machine-readable results")
    p.add_argument("--steps", type=int, default=512, metavar="N", help="steps per generated continuation (512)")
    p.add_argument("--generations", type=int, default=1, metavar="N", help="continuations to sample (1)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (default: sampler.seed)")
    p.add_argument("--engine", choices=ENGINES, help="runtime (default: engine)")
    p.add_argument("--answers", type=int, default=4, choices=range(1, 33), metavar="N",
                   help="continuations sampled for each prime in the listening figures, the model's figure "
                        "their mean (4); a single-stream model's (a duet model's are its accompaniments)")
    p.add_argument("--no-listening", dest="listening", action="store_false",
                   help="skip the continuation figures (key agreement, pitch classes, chords, rhythm)")
    p.add_argument("--no-baselines", dest="baselines", action="store_false",
                   help="skip fitting the n-gram and PPM baselines (and the training data's figures)")
    p.add_argument("--most", type=int, metavar="N", help="at most N files of each collection (the folder), "
                   "evenly spaced by name: the same files every time")
    p.add_argument("--transpose", type=int, default=0, metavar="SEMITONES",
                   help="move the held-out pieces by this many semitones first (does it play as well in F#?)")

    p = command("longterm", cmd_longterm, "Count a model's training tokens into its long-term tables "
                "(longterm.npz in the bundle: the corpus model mixed in at play time, model.long_term).")
    p.add_argument("--model", metavar="DIR", help="model bundle (default: model.path)")
    p.add_argument("--train-data", nargs="+", metavar="DIR", help="files or folders to count (default: the "
                   "manifest's training files)")
    p.add_argument("--order", type=int, default=8, choices=range(0, 17), metavar="K",
                   help="longest context counted, in tokens (8)")
    p.add_argument("--gate", action="store_true", help="fit the corpus's share at each step on the validation "
                   "files and keep it in the file (model.long_term_gate)")
    p.add_argument("--most", type=int, default=12, metavar="N", help="with --gate: at most N validation files "
                   "of each collection (12)")

    p = command("render", cmd_render, "Hear and see a MIDI file: audio through FluidSynth, a piano-roll picture.")
    p.add_argument("file", metavar="FILE.mid", help="the MIDI file (a generation, a --record session...)")
    p.add_argument("--wav", metavar="OUT.wav", help="render audio here (FluidSynth, General MIDI soundfont)")
    p.add_argument("--png", metavar="OUT.png", help="draw a piano roll here")

    p = command("corpus", cmd_corpus, "Export music21's public-domain collections to MIDI (needs music21).")
    p.add_argument("dest", metavar="DEST", help="folder to write SET/*.mid and corpus.json into")
    p.add_argument("--set", dest="sets", action="append", choices=CORPUS_SETS, metavar="SET",
                   help="collection to export (repeatable; default: the training mix, all of " + ", ".join(CORPUS_MIX)
                   + "; ryans and palestrina are outside it)")
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="parallel workers (2)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N source files of each set")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging("info")
    try:
        return args.func(args)
    except LiveplayError as err:
        log.error("%s", err)
        return err.exit_code
    except KeyboardInterrupt:
        log.warning("interrupted")
        return EXIT_RUNTIME


if __name__ == "__main__":
    sys.exit(main())
