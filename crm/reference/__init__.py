"""The plan's reference data: counties, clusters, supply categories, departments, partners, parks, targets."""
