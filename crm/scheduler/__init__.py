"""The scheduler: job registry, the exactly-once claim, the scheduler process, run history."""
