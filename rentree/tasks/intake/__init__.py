"""Intake: the landing scanner, routing, file checks, staging, quarantine and the file ledger."""
