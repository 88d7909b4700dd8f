"""``/admin/drain`` (``meshctl registry status|drain|resume``): pause new job claims on this replica.

While draining, claims answer "no work"; running jobs keep renewing and finish; submissions are still
queued. The flag is per replica and in memory, as in the Go registry (a restart clears it), so drain
every replica before an upgrade. ``live_claims`` (live jobs with an owner) comes from the database.
"""

from __future__ import annotations

import logging

from quart import Blueprint, Response, request

from registry.routes.auth import refuse_unauthorised
from registry.routes.common import json_response, runtime

log = logging.getLogger("registry.drain")

blueprint = Blueprint("drain", __name__)


@blueprint.route("/admin/drain", methods=["GET", "POST", "DELETE"])
async def drain() -> Response:
    """GET reports, POST starts draining, DELETE resumes; each answers ``{draining, live_claims}``."""
    refused = refuse_unauthorised(open_without_token=True)
    if refused is not None:
        return refused
    rt = runtime()
    if request.method != "GET":
        draining = request.method == "POST"
        if draining != rt.job_service.draining:
            log.info("drain mode changed", extra={"draining": draining})
        rt.job_service.draining = draining
    return json_response(
        {"draining": rt.job_service.draining, "live_claims": await rt.job_store.live_claims()}
    )
