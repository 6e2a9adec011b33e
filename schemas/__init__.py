"""Avro schemas of the public contract; installed as the ``consumer.schemas`` package."""
