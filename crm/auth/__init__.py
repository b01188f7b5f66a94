"""Users, roles, departments' people, sign-in and API tokens."""
