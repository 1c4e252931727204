"""Accounts: users, registration and login, sessions, roles (an essential plugin, always on).

Other plugins use :mod:`plugins.accounts.api` (authorization helpers and read-only user
lookups) and :mod:`plugins.accounts.events` (``user.*`` events); the rest is private.
"""
