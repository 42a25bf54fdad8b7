"""Signed webhooks: an integration client hears of a school's entries, exits, meals and roster changes.

subscriptions  subscribe, rotate the secret (with an overlap), pause, resume, remove, list
receivers      which URLs the cloud posts to (https to public addresses; loopback in development)
messages       the bodies, queued in the transaction that stored their event (consent in force only)
worker         the background worker: in order per subscription, retries with backoff, pauses
               after a day of failures
"""
