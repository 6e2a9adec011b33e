"""Exception types. Record errors carry a pipeline stage and a bounded reason code.

Messages of record errors are written by this package, never copied from the payload,
so they are safe for logs, dead-letter headers and metrics (reason only).
"""

from __future__ import annotations


class FraudConsumerError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(FraudConsumerError):
    """A flag, environment variable or config file is wrong; startup stops."""


class ModelError(FraudConsumerError):
    """The model or its card is missing, corrupt or inconsistent; startup stops."""


class RecordError(FraudConsumerError):
    """One input record cannot be scored. It goes to the dead-letter topic."""

    stage = "unknown"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class DecodeError(RecordError):
    """The value is not a Transaction in the expected wire format."""

    stage = "decode"


class ValidationError(RecordError):
    """The Transaction decoded but breaks a business rule."""

    stage = "validate"


class FeatureError(RecordError):
    """Features could not be computed for the Transaction."""

    stage = "features"


class ScoreError(RecordError):
    """The model could not score the Transaction, or its output could not be encoded."""

    stage = "score"


class DeliveryError(FraudConsumerError):
    """A produce kept failing after librdkafka's retries; the service must stop."""
