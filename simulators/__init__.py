"""Real-protocol stand-ins for what is outside the project, usable from tests, the demo and ``mektep sim``.

- ``pty_pair``: a pseudo-terminal behind a stable symlink (unplug / replug).
- ``serial_reader``: an EM4100 reader on that pty: cards, noise, feedback lines with timestamps.
- ``canteen_terminal``: an MQTT canteen terminal: QoS 1 taps, Last Will, feedback collection.
- ``broker``: mosquitto on a free port (or the embedded amqtt broker as a fallback).
"""
