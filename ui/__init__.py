"""The PySide6 desktop application. Widgets show and edit; the core does the work."""
