"""`gwa serve`: workspaces you can talk to over HTTP (a run API with server-sent events, an
OpenAI-compatible endpoint, and a live console page). Needs ``pip install 'gwa[serve]'``."""

from gwa.serve.app import build_app
from gwa.serve.hub import RunHub, Served, ServedRun

__all__ = ["RunHub", "Served", "ServedRun", "build_app"]
