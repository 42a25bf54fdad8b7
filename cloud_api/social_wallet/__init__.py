"""The Social Wallet adapter (Order No. 456 §33-1.4, §33-2): every free or discounted meal, once.

contract   the wire contract (ours: the operator publishes none) and its JSON Schema
outbox     rows written at ingest, leased, settled by receipt or rejection (caller owns the transaction)
sender     ``send_pending``: lease, POST with retries, verify receipts, settle
worker     the background loop the app's lifespan runs when a Wallet URL is configured
tabel      the monthly табель: meal days against receipts, and the differences
bench      ``wallet_records_per_s`` for ``mektep bench``
"""
