"""Kafka plumbing shared by the drivers and tools: topics, messages, reliable writers."""
