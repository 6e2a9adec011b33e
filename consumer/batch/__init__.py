"""Offline prediction: sources and sinks of stored data, the `batch` job and its reports."""
