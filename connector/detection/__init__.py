"""Change detection: pure event logic (records in, events out) and the poll loop around it."""
