"""Demo data: the plan's reference data and realistic enterprises (``seed-demo``)."""
