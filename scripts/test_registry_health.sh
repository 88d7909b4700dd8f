#!/bin/bash
# test_registry_health.sh
NAMESPACE=mcp-mesh
REGISTRY_SVC=mcp-mesh-registry
echo "Testing MCP Mesh Registry deployment..."
# Check StatefulSet
if ! kubectl get statefulset mcp-mesh-registry -n $NAMESPACE &>/dev/null; then
echo "ERROR: Registry StatefulSet not found"
exit 1
fi
# Check all pods are ready
READY_PODS=$(kubectl get statefulset mcp-mesh-registry -n $NAMESPACE -o jsonpath='{.status.readyReplicas}')
DESIRED_PODS=$(kubectl get statefulset mcp-mesh-registry -n $NAMESPACE -o jsonpath='{.spec.replicas}')
if [ "$READY_PODS" != "$DESIRED_PODS" ]; then
echo "ERROR: Only $READY_PODS/$DESIRED_PODS pods ready"
exit 1
fi
# Test service endpoint using actual service name
kubectl run test-curl --rm -it --image=curlimages/curl --restart=Never -- \
curl -s http://mcp-mesh-registry.mcp-mesh:8000/health
echo "Registry health check passed!"
