"""The cloud's own alerts: rules over the gateways' heartbeats and the deployment's queues, kept and told."""
