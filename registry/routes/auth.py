"""The one guard of the operator routes: ``AUTH_TOKEN`` as a bearer token (or a basic-auth password).

``meshctl`` cannot send a bearer header, but Go's HTTP client sends the user-info of a URL as basic
auth, so ``--registry-url http://admin:TOKEN@host:port`` reaches a guarded route with the same token.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from quart import Response, request

from registry.routes.common import error_response, runtime


def _presented_token() -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def refuse_unauthorised(open_without_token: bool = False) -> Response | None:
    """None when the request may proceed, else the 401/403 answer.

    With ``AUTH_TOKEN`` set, the token must match (constant-time). Without it, routes that carry the
    registry's data (backup, restore) are disabled (403); ``open_without_token`` routes stay open, as
    they are in the Go registry.
    """
    token = runtime().settings.auth_token
    if not token:
        if open_without_token:
            return None
        return error_response("admin API disabled: AUTH_TOKEN is not set", 403)
    presented = _presented_token()
    if presented is None or not hmac.compare_digest(presented.encode(), token.encode()):
        return error_response(
            "unauthorised: send Authorization: Bearer <AUTH_TOKEN> (or basic auth with it as password)", 401
        )
    return None
