"""The gateway's own pages on the school's network, served with no Internet: the latest events
(``web``) and the canteen staff's screen (``canteen``)."""
