"""HTTP routes, one module per audience: ops (probes, metrics), the agent protocol, the guide, admin."""
