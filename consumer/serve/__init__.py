"""The HTTP scoring API: one transaction or an array, batched across requests."""
