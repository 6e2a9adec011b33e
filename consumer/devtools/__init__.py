"""Tools for development and demos: embedded broker, demo, synthetic producer, dlq tool."""
