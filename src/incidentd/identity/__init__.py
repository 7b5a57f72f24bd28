"""Dev orgs, principals (dev users, service accounts, sys users) and API tokens."""
