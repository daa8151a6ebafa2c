"""liveplay: a real-time MIDI improvisation daemon with an LSTM that continues what you play."""

__version__ = "0.1.0"
