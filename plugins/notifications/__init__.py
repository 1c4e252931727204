"""The notifications plugin: In-app inbox, email on domain events, preferences."""
