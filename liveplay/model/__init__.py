"""The model: the bundle on disk (typed manifest, vocabulary, arrays), the engine contract, the NumPy
and TensorFlow step runtimes, and the Keras model the trainer fits.

TensorFlow is imported only by ``keras_model`` and ``tf_engine`` (inside them), never on the NumPy
path. May import ``liveplay.music``, ``liveplay.config`` and ``liveplay.errors``.
"""
