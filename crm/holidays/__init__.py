"""China's statutory holidays and make-up workdays, kept in the app's own table (DESIGN.md, time rules)."""
