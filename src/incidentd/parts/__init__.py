"""Parts: products, capabilities, features and enhancements an incident applies to."""
