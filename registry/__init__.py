"""The MCP Mesh registry: a Quart app served by Hypercorn (``python -m registry``)."""

__version__ = "1.0.0"
