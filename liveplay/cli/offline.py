"""The offline commands: prepare / train / generate / evaluate / render / longterm / corpus.

Each prints what it wrote or measured; the work is in ``liveplay.offline`` (and the model layer).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from liveplay.cli.common import settings_from
from liveplay.config import Settings
from liveplay.errors import EXIT_OK, UsageError, require_extra


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
