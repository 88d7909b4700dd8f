"""labkit: the helper package the lab's notebooks call, its CLI, and the local cluster."""

__version__ = "0.1.0"
