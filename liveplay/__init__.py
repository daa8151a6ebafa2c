"""liveplay: a real-time MIDI improvisation daemon with an LSTM that continues what you play.

The packages draw the architecture; imports run one way (tests/test_imports.py checks it)::

    cli                      the command line
    live      offline        the daemon | work on files (training, evaluation, generation, corpus)
    model                    the bundle, the engine contract and its runtimes, the Keras model
    music                    tokens, vocabulary, context, sampler, MIDI files (pure)
    config  userconfig  errors

A module imports only from its own package or from the rows below it; ``live`` and ``offline``
never import each other.
"""

__version__ = "0.1.0"
