"""The rating web app: three static files and a small JSON API over a `Study`.

No route takes a path: pages come from a fixed list read from the package, patches from the
database by the rater's queue position. A rater is an anonymous random token in an HttpOnly,
SameSite=Strict cookie; POSTs must be JSON from this origin (no cross-site form can send
one), and every field is checked before anything is stored. Every request must name a host
the server was started for: a page of another site whose name an attacker points at this
machine (DNS rebinding) sends its own name as Host, and its own origin with it, so the
origin check alone would pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from rwsr.mos.scale import LABELS, MAX_SCORE, MIN_SCORE
from rwsr.mos.study import Progress, Side, Study, TrialError

COOKIE = "rwsr_mos_rater"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_COOKIE_AGE = 365 * 24 * 3600
_MAX_ELAPSED_MS = 24 * 3600 * 1000
_PAGES = {"": "index.html", "app.js": "app.js", "style.css": "style.css"}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class NoRater(TrialError):
    """The request carries no valid rater cookie."""

    status = 401


def _read_pages() -> dict[str, tuple[bytes, str]]:
    static = resources.files("rwsr.mos") / "static"
    return {
        route: ((static / name).read_bytes(), _TYPES[name[name.rindex(".") :]])
        for route, name in _PAGES.items()
    }


def _session_json(study: Study, progress: Progress | None, rater_id: int | None) -> dict:
    return {
        "rater": rater_id,
        "labels": list(LABELS),
        "patch_size": study.config.patch_size,
        "allow_revisions": study.config.allow_revisions,
        "done": None if progress is None else progress.done,
        "total": None if progress is None else progress.total,
        "next": None if progress is None else progress.next,
    }


def host_name(host: str) -> str | None:
    """The name part of a Host header or host option ('Example.org:8000' -> 'example.org',
    '[::1]:80' -> '::1'); None when it is not a plain host name or address."""
    if not host or any(char in host for char in "/?#@\\ \t"):
        return None
    try:
        name = urlsplit(f"//{host}").hostname
    except ValueError:  # an unbalanced IPv6 bracket
        return None
    return name or None


def _error(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def create_app(study: Study, *, hosts: Iterable[str] = ()) -> Flask:
    """The WSGI app for `study`, answering requests for `hosts` (names or addresses) and this
    machine's loopback names; the caller owns the study and closes it."""
    allowed = LOCAL_HOSTS | {name for name in map(host_name, hosts) if name is not None}
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 1024  # a rating is a few dozen bytes
    pages = _read_pages()

    def current_rater() -> int | None:
        token = request.cookies.get(COOKIE)
        return None if not token or len(token) > 128 else study.rater_id(token)

    def rater_or_401() -> int:
        rater_id = current_rater()
        if rater_id is None:
            raise NoRater("no rater session: open the study page and press Start")
        return rater_id

    @app.errorhandler(TrialError)
    def trial_error(error: TrialError) -> Response:
        return _error(error.status, str(error))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return _error(error.code or 500, error.description or error.name)

    @app.before_request
    def known_host() -> Response | None:
        if host_name(request.host) in allowed:
            return None
        return _error(
            421,
            f"this server does not answer to the host {request.host!r}; open it by an address"
            " it serves, or restart rwsr mos serve with --allow-host NAME",
        )

    @app.before_request
    def same_origin_posts() -> Response | None:
        if request.method != "POST":
            return None
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return _error(403, "cross-origin requests are not accepted")
        if not request.is_json:
            return _error(415, "send JSON (Content-Type: application/json)")
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.update(_SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/")
    @app.get("/<any(app.js, style.css):name>")
    def page(name: str = "") -> Response:
        body, mimetype = pages[name]
        return Response(body, content_type=mimetype)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)

    @app.get("/api/session")
    def session() -> Response:
        rater_id = current_rater()
        progress = None if rater_id is None else study.progress(rater_id)
        return jsonify(_session_json(study, progress, rater_id))

    @app.post("/api/session")
    def join() -> Response:
        rater_id = current_rater()
        token = None
        if rater_id is None:
            token, rater_id = study.create_rater()
        response = jsonify(_session_json(study, study.progress(rater_id), rater_id))
        if token is not None:
            response.set_cookie(
                COOKIE, token, max_age=_COOKIE_AGE, httponly=True, samesite="Strict"
            )
        return response

    @app.get("/api/trials/<int:position>")
    def trial(position: int) -> Response:
        score = study.score(rater_or_401(), position)
        return jsonify(position=position, score=score)

    @app.get("/api/trials/<int:position>/<any(reference, result):side>.png")
    def patch(position: int, side: Side) -> Response:
        data = study.patch_png(rater_or_401(), position, side)
        response = Response(data, content_type="image/png")
        # Revalidate by content: the same URL shows other pixels to another rater or study.
        response.headers["Cache-Control"] = "private, no-cache"
        response.add_etag()
        response.make_conditional(request)  # 304 with no body when the ETag matches
        return response

    @app.post("/api/trials/<int:position>/rating")
    def rate(position: int) -> Response:
        rater_id = rater_or_401()
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, 'body must be a JSON object like {"score": 2}')
        unknown = sorted(set(body) - {"score", "elapsed_ms"})
        if unknown:
            return _error(400, f"unknown field(s): {', '.join(unknown)}")
        score = body.get("score")
        if type(score) is not int or not MIN_SCORE <= score <= MAX_SCORE:
            return _error(400, f"score must be an integer from {MIN_SCORE} to {MAX_SCORE}")
        elapsed = body.get("elapsed_ms")
        if elapsed is not None and (
            type(elapsed) is not int or not 0 <= elapsed <= _MAX_ELAPSED_MS
        ):
            return _error(400, f"elapsed_ms must be an integer from 0 to {_MAX_ELAPSED_MS}")
        progress = study.rate(rater_id, position, score, elapsed)
        return jsonify(_session_json(study, progress, rater_id))

    return app
