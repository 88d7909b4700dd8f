"""Container images for the real node, built on this machine from Debian's packages and the Kubernetes
source, written as OCI archives into labkit's cache and imported into the node's containerd.

There is no image registry: an image not in ``catalog.IMAGES`` fails to pull, as on a node without one.
"""
