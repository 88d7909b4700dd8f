"""``labkit jupyter``: the lab as a workshop in JupyterLab.

The cluster made reachable, a named kernel carrying the cluster's environment, a working copy of the
lessons that attendees may edit freely, and a JupyterLab bound to loopback whose terminals reach the
cluster with the lab's namespace set.
"""
