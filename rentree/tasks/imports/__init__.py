"""Importing deliveries: route, stage, plan, hold or apply, and the decisions on held ones."""
