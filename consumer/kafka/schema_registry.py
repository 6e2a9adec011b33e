"""The Confluent Schema Registry over HTTP, as the scoring core's ``SchemaRegistry``.

confluent-kafka's ``SchemaRegistryClient`` does the HTTP (caching, auth, TLS); this adapter
turns its answers into what the codec understands: an id it does not know (404) is
``None``, the record's fault; anything else that goes wrong (network, timeout, 5xx) is
``RegistryUnavailable``, nobody's record's fault, which the scorer retries.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from consumer.scoring.registry_codec import RegisteredSchema, RegistryUnavailable


class ConfluentSchemaRegistry:
    def __init__(self, client: SchemaRegistryClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, url: str, extra: dict[str, Any] | None = None) -> ConfluentSchemaRegistry:
        """A registry at ``url`` (``mock://...``: confluent-kafka's in-memory registry)."""
        return cls(SchemaRegistryClient.new_client({"url": url, **(extra or {})}))

    def register(self, subject: str, avro_schema: str) -> int:
        try:
            return int(self.client.register_schema(subject, Schema(avro_schema, "AVRO")))
        except SchemaRegistryError as exc:
            status = f"{exc.http_status_code} {exc.error_message}"
            raise RegistryUnavailable(f"cannot register {subject}: {status}") from None
        except Exception as exc:  # transport errors of the HTTP client
            raise RegistryUnavailable(f"schema registry unreachable: {exc}") from None

    def lookup(self, schema_id: int) -> RegisteredSchema | None:
        try:
            schema = self.client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return None
            raise RegistryUnavailable(
                f"schema registry answered {exc.http_status_code} for schema id {schema_id}"
            ) from None
        except Exception as exc:  # transport errors of the HTTP client
            raise RegistryUnavailable(
                f"schema registry unreachable: {type(exc).__name__}"
            ) from None
        return RegisteredSchema(schema.schema_type, schema.schema_str or "")
