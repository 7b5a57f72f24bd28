"""Tags: names (with an optional value per tagged object) that group incidents."""
