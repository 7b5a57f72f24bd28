"""Links: typed relations between an incident and another incident, a part, an article or an account."""
