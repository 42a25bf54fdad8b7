"""Web pages served by the cloud: the parent app."""
