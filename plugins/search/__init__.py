"""The search plugin: Global search, service search and autocomplete."""
