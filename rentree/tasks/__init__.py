"""The plain steps the flows wrap: intake, sync, rules, imports and content, no Prefect here."""
