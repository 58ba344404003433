"""Widgets: the live run table, the log view and the log pane around it."""
