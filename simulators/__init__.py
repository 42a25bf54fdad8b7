"""Real-protocol stand-ins for what is outside the project, usable from tests, the demo and ``mektep sim``.

- ``pty_pair``: a pseudo-terminal behind a stable symlink (unplug / replug).
- ``serial_device``: what every serial simulator shares: the pty, raw writes, the lines written back
  with timestamps.
- ``serial_reader``: an EM4100 reader on that pty: cards, noise, feedback lines.
- ``wiegand_converter``: a Wiegand reader behind its serial converter (bits or hex lines).
- ``qr_scanner``: a QR / barcode scanner (the Social Wallet's dynamic QR, printed codes).
- ``turnstile``: a turnstile's relay board that records the pulses it receives and answers them.
- ``canteen_terminal``: an MQTT canteen terminal: QoS 1 taps, Last Will, feedback collection.
- ``social_wallet``: the state's Social Wallet: meal registrations in, Ed25519-signed receipts out;
  it fails, delays, rejects, loses answers and forges on command.
- ``broker``: mosquitto on a free port (or the embedded amqtt broker as a fallback).
"""
