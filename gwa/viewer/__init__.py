"""The trace viewer: a local web page that shows what a workspace thought, cycle by cycle."""

from gwa.viewer.data import TraceIndex
from gwa.viewer.server import Viewer, make_server, serve_in_background

__all__ = ["TraceIndex", "Viewer", "make_server", "serve_in_background"]
