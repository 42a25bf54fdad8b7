"""Work the cloud does in the background, one way for all of it.

supervisor  runs every background worker of an API process, started and stopped by the app's
            lifespan; a worker that fails is logged and run again, never lost
queue       the leased queue every outbound delivery works from (push notices, Social Wallet
            records, report deliveries): claim with a lease, settle once, release for a retry
http        the one HTTP client family and retry policy (tenacity, honouring Retry-After)
cron        a worker that runs a job at the times a cron expression names (the report jobs)
"""
