"""The stages of a run between the planner and the read-back, and the targets they send to."""
