"""Web Push to guardians (RFC 8030, 8291, 8292): keys, subscriptions, the queue, its workers."""
