"""The settings page: embedded server, API keys, BI, OAuth apps, security, organisation."""
