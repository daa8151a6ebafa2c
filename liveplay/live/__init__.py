"""The live daemon: MIDI ports, the internal and MIDI clocks (``timing``), the pure performance core,
the threaded player around it, the app shell and systemd's notify protocol.

May import ``liveplay.model``, ``liveplay.music``, ``liveplay.config`` and ``liveplay.errors`` --
never ``liveplay.offline`` (tests/test_imports.py checks it).
"""
