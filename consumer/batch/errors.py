"""The batch run's own error."""

from consumer.scoring.errors import FraudConsumerError


class BatchError(FraudConsumerError):
    """The run failed after it started (corrupt input, failed write); nothing is kept."""
