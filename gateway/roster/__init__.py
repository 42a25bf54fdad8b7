"""The school's roster as the gateway holds it (``store``), pulls it from the cloud (``sync``), and the
photos it names (``photos``): everything the gateway judges by, offline."""
