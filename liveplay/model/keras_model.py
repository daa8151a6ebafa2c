"""The Keras model: Embedding -> N stacked LSTM (dropout after each) -> Dense logits.

TensorFlow is imported here, inside functions, and only the trainer, evaluation
against Keras and the TensorFlow runtime call them -- never the daemon's CPU path.
"""

from __future__ import annotations

import numpy as np

from liveplay.model.manifest import Architecture


# The LSTM layers meet every condition of the fused cuDNN kernel, so on a GPU Keras (3 and
# tf_keras alike) runs each layer as one cuDNN call instead of a loop of small kernels: tanh
# activation, sigmoid recurrent activation, no recurrent dropout, not unrolled, with a bias
# (Keras' defaults, spelt out here so that a change is a visible decision; dropout between
# layers is a separate Dropout layer, not the LSTM's). tests/model/test_keras_model.py checks it.
CUDNN_LSTM = {"activation": "tanh", "recurrent_activation": "sigmoid", "recurrent_dropout": 0.0,
              "unroll": False, "use_bias": True}


def build_model(arch: Architecture, seed: int | None = None, keras=None):
    """A Keras model mapping (batch, time) token ids to (batch, time, V) logits.

    ``keras``: the Keras module to build with (default Keras 3; the multi-worker trainer passes
    ``tf_keras``, offline.distribute); the layers and their names are the same.
    """
    if keras is None:
        import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    layers = [keras.Input(shape=(None,), dtype="int32", name="tokens"),
              keras.layers.Embedding(arch.vocab_size, arch.embedding, name="embedding")]
    for i in range(arch.layers):
        layers.append(keras.layers.LSTM(arch.hidden, return_sequences=True, name=f"lstm{i}", **CUDNN_LSTM))
        if arch.dropout > 0:
            layers.append(keras.layers.Dropout(arch.dropout, name=f"dropout{i}"))
    layers.append(keras.layers.Dense(arch.vocab_size, name="logits"))
    return keras.Sequential(layers, name="liveplay_lstm")


def get_arrays(model, arch: Architecture) -> dict[str, np.ndarray]:
    """The model's weights under the bundle's array names (bundle.py)."""
    out = {"embedding": model.get_layer("embedding").get_weights()[0]}
    for i in range(arch.layers):
        kernel, recurrent, bias = model.get_layer(f"lstm{i}").get_weights()
        out[f"lstm{i}.kernel"] = kernel
        out[f"lstm{i}.recurrent"] = recurrent
        out[f"lstm{i}.bias"] = bias
    out["dense.kernel"], out["dense.bias"] = model.get_layer("logits").get_weights()
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


def set_arrays(model, arch: Architecture, arrays: dict[str, np.ndarray]) -> None:
    model.get_layer("embedding").set_weights([arrays["embedding"]])
    for i in range(arch.layers):
        model.get_layer(f"lstm{i}").set_weights(
            [arrays[f"lstm{i}.kernel"], arrays[f"lstm{i}.recurrent"], arrays[f"lstm{i}.bias"]])
    model.get_layer("logits").set_weights([arrays["dense.kernel"], arrays["dense.bias"]])


def model_from_bundle(bundle):
    """A Keras model holding a loaded bundle's weights (from its .npz, the checked copy)."""
    model = build_model(bundle.architecture)
    set_arrays(model, bundle.architecture, bundle.weights)
    return model
