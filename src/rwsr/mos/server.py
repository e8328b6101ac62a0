"""Serving a study over HTTP with waitress, a production WSGI server with a thread pool.

Binds to localhost unless told otherwise, and answers only requests that name the address it
listens on, a loopback name or a host given with --allow-host. Stopping the process at any moment loses nothing:
each rating was committed before its response was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

from rwsr.errors import ConfigError
from rwsr.mos.app import LOCAL_HOSTS, create_app, host_name
from rwsr.mos.study import Study

_WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # every interface: no name a browser could send


def check_allowed_hosts(hosts: Sequence[str]) -> None:
    """Refuse an --allow-host value that is not a host name or address."""
    for host in hosts:
        if host_name(host) is None:
            raise ConfigError(
                f"--allow-host {host!r}: expected a host name or address, like"
                " study.lab.example or 192.168.1.20"
            )


def make_server(
    study: Study,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 8,
    allow_hosts: Sequence[str] = (),
) -> BaseWSGIServer | MultiSocketServer:
    """A bound (not yet running) server for `study`; port 0 picks a free port. It answers
    requests for `host`, the loopback names and `allow_hosts` (421 for any other Host)."""
    check_allowed_hosts(allow_hosts)
    app = create_app(study, hosts=[host, *allow_hosts])
    try:
        return create_server(app, host=host, port=port, threads=threads, ident="rwsr")
    except ValueError:  # waitress could not resolve the host name
        raise ConfigError(f"cannot listen on {host}:{port}: unknown host; try 127.0.0.1") from None
    except OSError as error:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); choose another --port"
        ) from None


def server_url(server: BaseWSGIServer | MultiSocketServer) -> str:
    """The http:// address a browser should open."""
    if isinstance(server, MultiSocketServer):  # 'localhost' may bind IPv4 and IPv6
        host, port = server.effective_listen[0]
    else:
        host, port = server.effective_host, server.effective_port
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/"


def serve(
    db_path: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 8,
    max_raters: int | None = None,
    allow_hosts: Sequence[str] = (),
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the study in `db_path` until interrupted; new raters beyond `max_raters` (all
    raters so far counted) are turned away, and requests for hosts other than `host`, the
    loopback names and `allow_hosts` are refused (make_server checks them)."""
    study = Study(db_path, max_raters=max_raters)
    try:
        server = make_server(study, host=host, port=port, threads=threads, allow_hosts=allow_hosts)
        config = study.config
        per_rater = (config.patches_per_rater or config.patches) * len(config.methods)
        announce(
            f"MOS study {db_path}: {len(config.methods)} methods, {config.patches} patches, "
            f"{per_rater} trials per rater"
        )
        if host not in LOCAL_HOSTS:
            limit = "" if max_raters else " (--max-raters caps how many)"
            announce(
                f"warning: listening on {host}: anyone who can reach this machine can rate{limit}"
            )
        if host in _WILDCARDS and not allow_hosts:
            announce(
                "note: only requests for 127.0.0.1, localhost or ::1 are answered; name the"
                " address raters open with --allow-host (e.g. --allow-host 192.168.1.20)"
            )
        announce(f"serving at {server_url(server)} (Ctrl+C to stop)")
        try:
            server.run()
        finally:
            server.close()
    finally:
        study.close()
