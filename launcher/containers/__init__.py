"""Talking to a Docker engine: the small Engine API client the local-container resource uses."""
