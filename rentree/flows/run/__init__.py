"""What every flow run shares: its context and record, the directory guard, the artifacts,
the approval of holds, and the task runner."""
