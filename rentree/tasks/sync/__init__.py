"""The sync engine: one diff per feed type into a change set (plan), then set-based apply."""
