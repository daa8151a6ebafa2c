"""The LSTM layers meet the fused cuDNN kernel's conditions (keras_model.CUDNN_LSTM)."""

import pytest

from liveplay.model.keras_model import CUDNN_LSTM, build_model
from liveplay.model.manifest import Architecture

# what Keras requires of an LSTM layer to run it as one cuDNN call on a GPU
CUDNN_CONDITIONS = {"activation": "tanh", "recurrent_activation": "sigmoid", "recurrent_dropout": 0.0,
                    "unroll": False, "use_bias": True}


def lstm_configs(model):
    return [layer.get_config() for layer in model.layers if type(layer).__name__ == "LSTM"]


@pytest.mark.parametrize("module", ["keras", "tf_keras"])
def test_every_lstm_layer_can_run_on_cudnn(module):
    keras = pytest.importorskip(module)
    assert CUDNN_LSTM == CUDNN_CONDITIONS
    model = build_model(Architecture(12, 8, 16, 3, dropout=0.2), seed=1, keras=keras)
    configs = lstm_configs(model)
    assert len(configs) == 3
    for config in configs:
        assert {k: config[k] for k in CUDNN_CONDITIONS} == CUDNN_CONDITIONS, config
        assert config["dropout"] == 0.0  # dropout is a layer of its own, between the LSTMs
