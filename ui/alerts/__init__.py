"""The alerts inbox and its parts."""
