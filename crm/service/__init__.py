"""The "一对一" service: assignments (more in the service issue)."""
