"""The school's gateway: readers in, decisions on the spot, every event durably on disk, then to the cloud.

taps/    the tap path: decide (policy, the school's rules) → record (outbox) → answer → forward
roster/  the school's roster held on disk and in memory, pulled from the cloud, and its photos
pages/   the local pages on the school's network: the events page and the canteen screen
site/    the site file (one a school), device profiles, and the drivers they build
broker/  the school's Mosquitto: its config, password file and ACL, generated from the site file
app.py   the wiring of one gateway; storage.py the one thread that owns its SQLite database
"""
