"""Pure domain: task model, state machine, retry policy. No I/O here."""
