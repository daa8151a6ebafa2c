"""Pure music: the step grid's tokens and vocabulary, the model's context, the sampler, MIDI files.

Everything here takes values and returns values: no ports, no threads, no TensorFlow, no clock.
It may import ``liveplay.config`` and ``liveplay.errors`` only (tests/test_imports.py checks it).
"""
