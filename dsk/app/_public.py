"""Pages anyone may request: the health check (the static files are mounted by ``create_app``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter()


@router.get("/healthz")
def healthz() -> Response:
    return Response("ok", media_type="text/plain")
