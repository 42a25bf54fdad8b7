"""A school's site file and the device profiles it names: read and checked (``config``, ``files``,
``profiles``), described as JSON Schema (``schema``), turned into drivers (``devices``), and the
``mektep config`` commands (``cli``)."""
