"""What ops see: Prometheus metrics, the /metrics /healthz /readyz server, logging."""
