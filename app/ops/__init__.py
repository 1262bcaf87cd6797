"""Operating a store: backups, health checks and moving to another database."""
