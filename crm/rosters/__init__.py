"""The two official lists (名单) and their half-year editions: entries, review, publish, diff, Excel."""
