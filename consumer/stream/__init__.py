"""The Kafka scorer: consumer group loop, offsets, lag and the `run` command wiring."""
