"""A small synchronous client for the MCP Mesh registry's HTTP API (httpx)."""

from __future__ import annotations

from typing import Any

import httpx

from labkit.errors import BadParameter, RegistryError, RegistryUnavailable, require_type


def normalise_url(url: object) -> str:
    """A registry base URL without a trailing slash; BadParameter unless it is an http(s) URL."""
    require_type("url", url, str)
    assert isinstance(url, str)
    if not url.startswith(("http://", "https://")):
        raise BadParameter(f"url must start with http:// or https://, not {url!r}")
    return url.rstrip("/")


class RegistryClient:
    """The registry's API: health, readiness, metrics, agents, capabilities, registration, admin.

    Every failure is one LabError: RegistryUnavailable when nothing answers, RegistryError for an
    error status (with the registry's own message).
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = normalise_url(url)
        if token is not None:
            require_type("token", token, str)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RegistryClient {self.url}>"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any) -> httpx.Response:
        """Send a request; raise RegistryUnavailable/RegistryError unless it succeeds (2xx or ``ok``)."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise RegistryUnavailable(
                f"the registry at {self.url} did not answer {method} {path} in time; is it running and ready?"
            ) from None
        except httpx.TransportError as exc:
            raise RegistryUnavailable(
                f"the registry at {self.url} does not answer ({type(exc).__name__}: {exc}); "
                "is the port-forward open and the pod ready?"
            ) from None
        if response.is_success or response.status_code in ok:
            return response
        raise RegistryError(method, path, response)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of a successful request."""
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise RegistryError(method, path, response, "the body is not JSON") from None

    # -- read ---------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """GET /health: the liveness document (``{"status": "healthy", ...}``)."""
        return dict(self.json("GET", "/health"))

    def ready(self) -> bool:
        """GET /ready: whether the registry reports ready (200) rather than not ready (503)."""
        return self.request("GET", "/ready", ok=(503,)).status_code == 200

    def readiness(self) -> dict[str, Any]:
        """GET /ready's body with ``status_code`` added: the reason when it is not ready."""
        response = self.request("GET", "/ready", ok=(503,))
        try:
            body = response.json()
        except ValueError:
            body = {"body": response.text}
        return {"status_code": response.status_code, **(body if isinstance(body, dict) else {"body": body})}

    def metrics_text(self) -> str:
        """GET /metrics: the Prometheus text exposition."""
        return self.request("GET", "/metrics").text

    def agents(self, **filters: str) -> list[dict[str, Any]]:
        """GET /agents (optional query filters): the list of registered agents."""
        body = self.json("GET", "/agents", params=filters or None)
        agents = body.get("agents", []) if isinstance(body, dict) else body
        return list(agents or [])

    def capabilities(self) -> Any:
        """GET /capabilities: each capability with its providers and their health."""
        body = self.json("GET", "/capabilities")
        if isinstance(body, dict) and "capabilities" in body:
            return body["capabilities"]
        return body

    # -- write --------------------------------------------------------------------------------------

    def register(self, agent_id: str, capabilities: list[str], endpoint: str) -> dict[str, Any]:
        """POST /agents with the guide's ``{"id", "capabilities", "endpoint"}``."""
        require_type("agent_id", agent_id, str)
        require_type("endpoint", endpoint, str)
        if not isinstance(capabilities, list | tuple) or not all(isinstance(c, str) for c in capabilities):
            raise BadParameter(f"capabilities must be a list of strings, not {capabilities!r}")
        payload = {"id": agent_id, "capabilities": list(capabilities), "endpoint": endpoint}
        return dict(self.json("POST", "/agents", json=payload))

    def heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]:
        """POST /heartbeat with an MCP Mesh registration/heartbeat payload; raises on ``status: error``."""
        require_type("payload", payload, dict)
        body = dict(self.json("POST", "/heartbeat", json=payload))
        if body.get("status") == "error":
            raise RegistryError("POST", "/heartbeat", None, str(body.get("message", "status error")))
        return body

    def fast_heartbeat(self, agent_id: str) -> int:
        """HEAD /heartbeat/{id}: 200 no change, 202 topology changed, 410 unknown or unhealthy."""
        require_type("agent_id", agent_id, str)
        return self.request("HEAD", f"/heartbeat/{agent_id}", ok=(410, 503)).status_code

    def unregister(self, agent_id: str) -> None:
        """DELETE /agents/{id} (idempotent)."""
        require_type("agent_id", agent_id, str)
        self.request("DELETE", f"/agents/{agent_id}", ok=(404,))

    # -- admin --------------------------------------------------------------------------------------

    def backup(self) -> bytes:
        """The registry's encrypted snapshot (/admin/backup, needs the token)."""
        response = self.request("GET", "/admin/backup", ok=(405,))
        if response.status_code == 405:
            response = self.request("POST", "/admin/backup")
        return response.content

    def restore(self, blob: bytes) -> dict[str, Any]:
        """Restore a snapshot made by backup() (/admin/restore, needs the token); returns the summary."""
        if not isinstance(blob, bytes | bytearray):
            raise BadParameter(f"blob must be the bytes backup() returned, not {type(blob).__name__}")
        response = self.request(
            "POST",
            "/admin/restore",
            content=bytes(blob),
            headers={"Content-Type": "application/octet-stream"},
        )
        try:
            return dict(response.json())
        except ValueError:
            return {"status_code": response.status_code, "body": response.text}
