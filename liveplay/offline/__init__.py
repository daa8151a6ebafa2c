"""Offline work on files: the training data set, the trainer, evaluation and its baselines,
generation to MIDI files, and the music21 corpus export.

May import ``liveplay.model``, ``liveplay.music``, ``liveplay.config`` and ``liveplay.errors`` --
never ``liveplay.live`` (tests/test_imports.py checks it).
"""
