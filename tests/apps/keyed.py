"""A server where each user has their own API key, sent in the query string.

Run with ``python -m tests.apps.keyed PORT``; the keys come from the environment
(``KEYED_ANN``, ``KEYED_BOB``). ``GET /data?user=NAME&key=KEY`` is 200 only with that
user's own key, 403 otherwise: a replay passes only if each placeholder is filled with
the right secret.
"""

from __future__ import annotations

import os
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

KEYS = {"ann": os.environ.get("KEYED_ANN", ""), "bob": os.environ.get("KEYED_BOB", "")}


async def data(request: Request) -> Response:
    user = request.query_params.get("user", "")
    key = KEYS.get(user)
    if not key or request.query_params.get("key") != key:
        return JSONResponse({"error": "forbidden"}, status_code=403)
    return JSONResponse({"user": user, "rows": 3})


app = Starlette(routes=[Route("/data", data)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
