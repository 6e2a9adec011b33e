"""fraud-consumer: streaming fraud scoring on Kafka with LightGBM."""

__version__ = "0.1.0"
