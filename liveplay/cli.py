"""``liveplay`` command line: run / learn / ports / prepare / train / generate / evaluate / render / corpus.

Every command takes ``--config FILE`` (settings on top of the shipped config.yaml;
default: the user's file, $XDG_CONFIG_HOME/liveplay/config.yaml, when it exists);
its flags override the file, a flag not given leaves the file's value.
Exit codes: 0 ok, 1 runtime failure, 2 bad usage, config, data or model file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from liveplay import __version__
from liveplay.config import ENGINES, LEARNABLE, MODES, Settings, load_settings
from liveplay.userconfig import set_keys, user_config_path
from liveplay.errors import EXIT_OK, EXIT_RUNTIME, LiveplayError, UsageError, require_extra

log = logging.getLogger("liveplay")

LOG_FORMAT = "%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"


def setup_logging(level: str = "info") -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_liveplay", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._liveplay = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())


def settings_from(args: argparse.Namespace, overrides: dict) -> Settings:
    if args.config is None and user_config_path().is_file():
        args.config = str(user_config_path())
    settings = load_settings(args.config).override(overrides)
    setup_logging(settings.log_level)
    if args.config:
        log.debug("settings: the shipped config.yaml, then %s", args.config)
    return settings


# -- commands ---------------------------------------------------------------------------------


def cmd_prepare(args) -> int:
    from liveplay.offline.shards import prepare

    settings = settings_from(args, {"prepare.jobs": args.jobs})
    manifest = prepare(args.data, args.out, settings)
    c = manifest["counts"]
    print(f"{args.out}: {c['files']} files ({c['tokenised']} tokenised now, {c['unchanged']} unchanged, "
          f"{c['skipped']} skipped), {c['windows']['train']} train and {c['windows']['validation']} validation "
          f"windows, vocabulary {len(manifest['vocabulary']['chords'])} chords")
    for s in manifest["skipped"]:
        print(f"  skipped {s['name']}: {s['reason']}")
    return EXIT_OK


def cmd_train(args) -> int:
    require_extra("train", "tensorflow", "liveplay train")
    require_extra("train", "matplotlib", "liveplay train")
    from liveplay.offline.train import train

    settings = settings_from(args, {"train.epochs": args.epochs})
    train(args.data, args.out, settings, command=" ".join(["liveplay"] + sys.argv[1:]), base=args.base,
          split_from=args.split_from)
    return EXIT_OK


def _bundle_and_engine(settings: Settings):
    if settings.engine == "tensorflow":
        require_extra("train", "tensorflow", "engine: tensorflow")
    from liveplay.model.bundle import load_bundle
    from liveplay.model.runtime import engine_for

    bundle = load_bundle(settings.model.path)
    return bundle, engine_for(bundle, settings.model, settings.engine, settings.engine_threads,
                              harmony=settings.model.harmony)


def cmd_generate(args) -> int:
    from liveplay.offline.generate import generate, write_generation
    from liveplay.music.sampler import Sampler

    settings = settings_from(args, {"model.path": args.model, "sampler.temperature": args.temperature,
                                    "sampler.seed": args.seed, "generate.steps": args.steps,
                                    "generate.tempo_bpm": args.tempo, "engine": args.engine})
    from liveplay.model.keyframe import for_play
    from liveplay.model.runtime import keeper_for

    bundle, engine = _bundle_and_engine(settings)
    if bundle.manifest.kind == "duet":
        raise UsageError(f"generate: {bundle.path} is a duet model, it accompanies a melody (liveplay run --mode "
                         "accompany; liveplay evaluate accompanies held-out melodies)")
    vocab, engine = for_play(bundle, engine)  # concert pitch in and out, whatever key the model learned in
    prime = bundle.encode_file(args.prime, settings.grid.skip_drums, vocab) if args.prime else []
    keeper = keeper_for(bundle, vocab, engine, settings.model.key_keeping)  # the prime's key kept
    gen = generate(bundle, engine, Sampler(settings.sampler), settings.generate.steps, prime, vocab, keeper)
    path = write_generation(gen, bundle, args.out, settings.generate.tempo_bpm)
    print(f"wrote {path}: {len(gen.ids)} steps ({len(gen.ids) / bundle.grid.steps_per_beat:g} beats "
          f"at {settings.generate.tempo_bpm:g} BPM), primed with {len(prime)} step(s); "
          f"temperature {gen.min_temperature:.3f}..{gen.max_temperature:.3f}")
    return EXIT_OK


def cmd_evaluate(args) -> int:
    import numpy as np

    from liveplay.offline.evaluate import corpus_index, data_stats, evaluate, files_on_disk, generation_stats
    from liveplay.offline.generate import generate
    from liveplay.offline.progress import progress
    from liveplay.music.sampler import Sampler

    settings = settings_from(args, {"model.path": args.model, "sampler.seed": args.seed,
                                    "engine": args.engine})
    bundle, engine = _bundle_and_engine(settings)
    data = list(args.data)
    if args.split:
        data += files_on_disk(bundle, args.split)
    if not data:
        raise UsageError("evaluate: give DATA files or folders, or --split with files recorded in the manifest "
                         "and on disk")
    if bundle.manifest.kind == "duet":
        return _evaluate_duet(args, settings, bundle, engine, data)
    report = evaluate(bundle, engine, data, args.train_data, skip_drums=settings.grid.skip_drums,
                      semitones=args.transpose, baselines=args.baselines, most=args.most)
    report["transpose"] = args.transpose
    corpus = report.pop("train_sequences")
    pieces = report.pop("test_pieces")
    if args.listening:
        from liveplay.model.runtime import keeper_for
        from liveplay.offline.listening import listening

        keeper = keeper_for(bundle, bundle.vocab, engine, settings.model.key_keeping)
        report["listening"] = listening(bundle, engine, settings.sampler, pieces, seed=settings.sampler.seed or 0,
                                        progress=lambda items, n: progress(items, n, "continuing primes", "piece"),
                                        answers=args.answers, keeper=keeper)
    lengths = settings.sampler.repeat_lengths
    index = corpus_index(corpus) if corpus else None  # once, not once per generation
    runs = []
    for i in progress(range(args.generations), args.generations, "generating", unit="generation"):
        seed = None if settings.sampler.seed is None else settings.sampler.seed + i
        gen = generate(bundle, engine, Sampler(settings.sampler, seed=seed), args.steps)
        runs.append(generation_stats(gen.ids, index, lengths))
    gen_summary = {k: round(float(np.median([r[k] for r in runs])), 4) for k in runs[0]}
    if corpus:
        gen_summary["longest_copy_each"] = [r["longest_copy"] for r in runs]
    report["generation"] = {"runs": args.generations, "median": gen_summary}
    if corpus:
        report["training_data"] = data_stats(corpus, args.steps, lengths)
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    moved = f", moved {args.transpose:+d} semitones" if args.transpose else ""
    print(f"model {report['model']} on {report['files']} file(s){moved}; vocabulary coverage "
          f"{100 * report['vocabulary_coverage']['chords']:.1f}% of chords before nearest mapping")
    print(f"{'':16} {'accuracy':>9} {'top-5':>7} {'chord top-5':>12} {'perplexity':>11} {'predictions':>12}")
    sections = [("all", report["model_scores"], report["baselines"])]
    if len(report["by_collection"]) > 1:
        sections += [(g, c["model"], c["baselines"]) for g, c in report["by_collection"].items()]
    for group, model, baselines in sections:
        if len(sections) > 1:
            print(f"{group} ({report['by_collection'][group]['files'] if group != 'all' else report['files']} files)")
        for name, s in [("model", model)] + list(baselines.items()):
            print(f"  {name:14} {s['accuracy']:9.4f} {s['top5']:7.4f} {s['chord_top5']:12.4f} {s['perplexity']:11.3f} "
                  f"{s['predictions']:12d}")
    if "listening" in report:
        from liveplay.offline.listening import format_share
        answers = report["listening"]["all"].get("answers", 1)
        print(f"continuations of 16 beats after the first 16 (model, the mean of {answers} a prime | the piece's "
              "own | another piece's):")
        for group, f in report["listening"].items():
            if group == "quantisation_loss" or not f:
                continue
            v = {k: "-" if x is None else f"{x:.3f}" for k, x in f.items()
                 if k not in ("pieces", "answers") and not k.endswith("_share_90")}
            print(f"  {group:14} {f['pieces']:4d} pieces  key agreement {v['key_agreement_model']} | "
                  f"{v['key_agreement_data']} | {v['key_agreement_chance']}  pitch-class cosine "
                  f"{v['pc_cosine_model']} | {v['pc_cosine_data']} | {v['pc_cosine_chance']}  "
                  f"chords {v['chord_share_model']} | {v['chord_share_data']}  IOI overlap {v['ioi_overlap']}")
            print(f"  {'':14} {'':4}         model / the piece's own: key agreement "
                  f"{format_share(f['key_agreement_share'], f['key_agreement_share_90'])}, pitch-class cosine "
                  f"{format_share(f['pc_cosine_share'], f['pc_cosine_share_90'])} (90 % interval over primes)")
        print("  grid moves " + ", ".join(f"{100 * v:.1f}% of onsets in {g}"
                                          for g, v in report["listening"]["quantisation_loss"].items()))
    print(f"generation: {args.generations} x {args.steps} steps (medians)"
          + ("; training data in chunks of the same length:" if corpus else ""))
    keys = ["distinct_1", "distinct_2", "distinct_4", "repetition_rate", "rest_share", "hold_share"]
    print("  " + " ".join(f"{k:>15}" for k in keys + (["longest_copy"] if corpus else [])))
    print("  " + " ".join(f"{gen_summary[k]:15.4f}" for k in keys)
          + (f" {gen_summary['longest_copy']:15.1f}" if corpus else ""))
    if corpus:
        print("  " + " ".join(f"{report['training_data'][k]:15.4f}" for k in keys))
    return EXIT_OK


def _evaluate_duet(args, settings, bundle, engine, data) -> int:
    """``evaluate`` of a duet model: liveplay's part against the baselines, accompaniments of the
    held-out melodies next to the real ones (``offline.duet_eval``)."""
    from liveplay.offline.duet_eval import evaluate_duet, report_lines

    if args.transpose:
        raise UsageError("evaluate --transpose: not supported for a duet model yet")
    report = evaluate_duet(bundle, engine, data, settings.sampler.accompanying(), args.train_data, settings.grid.skip_drums,
                           args.baselines, most=args.most, steps=args.steps, seed=settings.sampler.seed or 0)
    print(json.dumps(report, indent=2) if args.json else "\n".join(report_lines(report)))
    return EXIT_OK


def cmd_render(args) -> int:
    from liveplay.offline.render import render_png, render_wav

    settings_from(args, {})
    if not args.wav and not args.png:
        raise UsageError("render: give --wav OUT.wav, --png OUT.png or both")
    if args.png:
        print(f"wrote {render_png(args.file, args.png)} (piano roll)")
    if args.wav:
        print(f"wrote {render_wav(args.file, args.wav)} (FluidSynth, General MIDI)")
    return EXIT_OK


def cmd_longterm(args) -> int:
    """Count the bundle's training tokens into its long-term tables (``model.longterm``)."""
    from liveplay.model.bundle import load_bundle
    from liveplay.model.longterm import FILE, CorpusTables
    from liveplay.offline.evaluate import load_sequences, training_files

    settings = settings_from(args, {"model.path": args.model})
    bundle = load_bundle(settings.model.path, weights=args.gate)
    if bundle.manifest.kind == "duet":
        raise UsageError(f"longterm: {bundle.path} is a duet model; its context interleaves two parts, and "
                         "it plays without a long-term model")
    files = args.train_data or training_files(bundle)
    if not files:
        raise UsageError(f"longterm: none of {bundle.path}'s training files is on disk (give --train-data)")
    began = time.monotonic()
    sequences = load_sequences(bundle, files, settings.grid.skip_drums)  # as the model trained: in its key frame
    tables = CorpusTables.fit(sequences, len(bundle.vocab), args.order)
    if args.gate:
        tables.gate = _fit_gate(bundle, tables, settings, args.most)
    tables.save(bundle.path / FILE)
    contexts = sum(len(k) for k in tables.keys)
    print(f"wrote {bundle.path / FILE}: {sum(len(s) for s in sequences)} tokens of {len(sequences)} file(s), "
          f"{contexts} contexts of up to {args.order} tokens, {(bundle.path / FILE).stat().st_size / 1e6:.1f} MB, "
          f"in {time.monotonic() - began:.0f} s")
    return EXIT_OK


def _fit_gate(bundle, tables, settings, most: int):
    """The long-term gate fitted on the bundle's validation files (``offline.gate``), reported."""
    from liveplay.offline import gate

    try:
        fitted, report = gate.fit_on_validation(bundle, tables, settings.grid.skip_drums, settings.model.short_term,
                                                settings.model.long_term, most)
    except ValueError as err:
        raise UsageError(f"longterm --gate: {err}") from err
    for fold in report["folds"]:
        print(f"gate fitted on the {fold['fitted_on']}, on the others ({fold['predictions']} predictions): "
              f"perplexity {fold['perplexity_gated']} against {fold['perplexity_fixed']} at the fixed share "
              f"{settings.model.long_term:g} (median share {fold['share_median']})")
        print("  " + ", ".join(f"{g} {r['perplexity_gated']} / {r['perplexity_fixed']}"
                               for g, r in fold["by_collection"].items()))
    print(f"gate fitted on all {report['files']} validation files ({report['predictions']} predictions): "
          f"{report['weights']}")
    return fitted


def cmd_corpus(args) -> int:
    require_extra("corpus", "music21", "liveplay corpus")
    from liveplay.offline.corpus import DEFAULT_SETS, export

    settings_from(args, {})
    manifest = export(args.dest, args.sets or DEFAULT_SETS, jobs=args.jobs, limit=args.limit)
    for name, info in manifest["sets"].items():
        print(f"{name}: {info['pieces']} piece(s) written to {Path(args.dest) / info['folder']}, "
              f"{info['skipped']} skipped")
    return EXIT_OK


def cmd_run(args) -> int:
    flags = {"model.path": args.model, "live.input": args.input, "live.output": args.output, "live.mode": args.mode,
             "live.tempo_bpm": args.tempo, "sampler.temperature": args.temperature, "live.api": args.api,
             "engine": args.engine, "live.prime": args.prime, "sampler.seed": args.seed,
             "clock.source": args.clock, "clock.send": args.send_clock or None, "live.record": args.record,
             "live.synth": args.synth or None}
    settings = settings_from(args, flags)

    from liveplay.live.app import run

    def reload() -> Settings:  # SIGHUP: the same file, the same flags on top
        return load_settings(args.config).override(flags)

    return run(settings, reload if args.config else None)


def cmd_learn(args) -> int:
    """Wait for the next control change on the input and map CONTROL to its CC number in the user's file."""
    from liveplay.errors import PortError
    from liveplay.live.inputs import InputQueue
    from liveplay.live.jacknoise import quiet_libjack
    from liveplay.live.ports import open_port
    from liveplay.live.system import choose_api

    control = args.control.replace("-", "_")
    path = args.config or str(user_config_path())
    settings = settings_from(args, {"live.api": args.api, "live.input": args.input})
    quiet_libjack()
    heard = InputQueue()
    wanted = settings.live.input  # a named input must be there; none: a virtual port of our own
    port = open_port(choose_api(settings.live.api), "input", wanted, client="liveplay-learn", port_name="in",
                     on_bytes=heard.on_bytes)
    if port is None:
        raise PortError(f"no MIDI input matches '{wanted}' (`liveplay ports` lists them)")
    where = f"'{port.target}'" if port.target else f"'{port.name}' (connect your controller to it)"
    print(f"move the knob, fader or button for {args.control} now: listening on {where}", flush=True)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    try:
        msg = None
        while msg is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise UsageError(f"no control change came within {args.timeout:g} s; nothing was changed")
            time.sleep(0.02)
            for stamped in heard.drain():
                m = stamped.message
                if m.type != "control_change":
                    continue
                if m.control >= 120:
                    print(f"CC {m.control} is a channel mode message (always silences); try another control")
                    continue
                msg = m
                break
    finally:
        port.close()
    current = settings.controls
    changes: dict = {control: msg.control}
    for other in LEARNABLE:
        if other != control and getattr(current, other) == msg.control:
            changes[other] = None  # a CC drives one control
            print(f"CC {msg.control} was {other.replace('_', '-')}: that one is now unmapped")
    set_keys(path, "controls", changes)
    print(f"CC {msg.control} (channel {msg.channel + 1}) -> {args.control}; saved in {path}")
    if current.channel and current.channel != msg.channel + 1:
        print(f"note: controls.channel is {current.channel}, so liveplay listens to controls on that channel only")
    print("a running liveplay takes it on SIGHUP (systemctl --user reload liveplay) or at its next start")
    return EXIT_OK


def cmd_ports(args) -> int:
    from liveplay.live.jacknoise import quiet_libjack
    from liveplay.live.system import describe_ports

    settings = settings_from(args, {"live.api": args.api})
    quiet_libjack()  # a server that goes away while we look: liveplay's own message, not libjack's
    print(describe_ports(settings.live.api))
    return EXIT_OK


# -- parser -----------------------------------------------------------------------------------


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
