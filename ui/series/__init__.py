"""The series explorer: the list of series, the forecast chart and the export."""
