"""The local cluster: a real Kubernetes control plane on loopback plus labkit's node agent."""
