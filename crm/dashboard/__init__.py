"""The leadership dashboard: the plan's targets against counted actuals, service performance, reports."""
