"""What every command shares: logging, and the settings it runs with.

Every command takes ``--config FILE`` (settings on top of the shipped config.yaml;
default: the user's file, $XDG_CONFIG_HOME/liveplay/config.yaml, when it exists);
its flags override the file, a flag not given leaves the file's value.
"""

from __future__ import annotations

import argparse
import logging
import sys

from liveplay.config import Settings, load_settings
from liveplay.userconfig import user_config_path

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
