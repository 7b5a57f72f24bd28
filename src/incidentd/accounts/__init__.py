"""Accounts: the customers an incident impacts."""
