"""QR / barcode scanners that present as a serial line: ``codec`` (sans-IO lines) and ``driver``."""

from device_drivers.qr.driver import QrConfig, QrDriver

__all__ = ["QrConfig", "QrDriver"]
