"""The tap path: a read is decided (``policy``, ``rules``), recorded durably (``outbox``) before the
reader is answered (``pipeline``), and forwarded to the cloud (``forwarder``)."""
