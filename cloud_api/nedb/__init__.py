"""The exchange with the National Education Database (NEDB, ҰБДҚ; Order No. 456 §§15-16), both ways.

contract   the wire contract (paths, records, signatures): the one module to swap when the operator
           publishes its own
client     speaks the contract over HTTP: signs our requests, verifies the answers
store      the tables: which schools take part, the packet journal, refused records, figures to send
roster     a pulled delta applied through the roster importer the file import uses, atomically
figures    the attendance and meal counts the NEDB collects, from the monthly report builders
worker     the background worker: pulls on schedule, sends figures, retries with backoff
office     what the school's office shows of it
"""
