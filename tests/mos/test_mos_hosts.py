"""DNS rebinding: the rating app answers only requests for the hosts it was started for.

A page of evil.example whose name resolves to 127.0.0.1 sends `Host: evil.example:PORT` and
`Origin: http://evil.example:PORT`, which agree with each other; only the Host check stops it.
The app is the one `make_server` binds (never run), waitress's proxy-header wrapper
included, driven by werkzeug's test client (the one Flask's test client extends).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner
from werkzeug.test import Client, TestResponse

from rwsr.cli.mos import app as mos_app
from rwsr.mos.server import make_server
from rwsr.mos.study import Study

PEER = {"REMOTE_ADDR": "127.0.0.1"}  # the browser runs on this machine, as in the attack


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.fixture
def served(make_study: Callable[..., Path]) -> Iterator[tuple[Client, int, Path]]:
    """(test client of the bound app, its port, the study) of a server on 127.0.0.1 that also
    allows study.lab.example."""
    db = make_study()
    study = Study(db)
    server = make_server(study, host="127.0.0.1", port=0, allow_hosts=["study.lab.example"])
    try:
        yield Client(server.application), server.effective_port, db
    finally:
        server.close()
        study.close()


def send(client: Client, method: str, path: str, host: str, **options: object) -> TestResponse:
    """A request as a page of `host` sends it: that Host, and that Origin on POSTs."""
    headers = {"Host": host} | ({"Origin": f"http://{host}"} if method == "POST" else {})
    return client.open(path, method=method, headers=headers, environ_base=PEER, **options)


def join_and_rate(client: Client, host: str) -> tuple[int, int]:
    """Join and rate trial 0 as a page of `host` would; the two status codes."""
    joined = send(client, "POST", "/api/session", host, json={})
    rated = send(client, "POST", "/api/trials/0/rating", host, json={"score": 2})
    return joined.status_code, rated.status_code


def test_other_hosts_are_refused_before_anything_is_stored(
    served: tuple[Client, int, Path],
) -> None:
    client, port, db = served
    assert join_and_rate(client, f"evil.example:{port}") == (421, 421)
    page = send(client, "GET", "/", f"evil.example:{port}")
    assert page.status_code == 421
    assert "does not answer to the host 'evil.example:" in page.get_json()["error"]
    assert "--allow-host" in page.get_json()["error"]
    assert send(client, "GET", "/api/session", "127.0.0.1.evil.example").status_code == 421
    assert (count(db, "raters"), count(db, "ratings")) == (0, 0)


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "Study.Lab.Example:{port}"]
)
def test_the_bound_loopback_and_allowed_hosts_are_served(
    served: tuple[Client, int, Path], host: str
) -> None:
    client, port, db = served
    assert join_and_rate(client, host.format(port=port)) == (200, 200)
    assert (count(db, "raters"), count(db, "ratings")) == (1, 1)


def test_a_study_bound_to_another_address_answers_for_it(
    make_study: Callable[..., Path],
) -> None:
    db = make_study()
    study = Study(db)
    server = make_server(study, host="localhost", port=0)  # a name, not 127.0.0.1
    try:
        client = Client(server.application)
        assert join_and_rate(client, "localhost") == (200, 200)
        assert join_and_rate(client, "study.lab.example") == (421, 421)  # not allowed here
    finally:
        server.close()
        study.close()
    assert count(db, "ratings") == 1


def test_allow_host_must_be_a_host_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        mos_app,
        ["serve", "--db", str(tmp_path / "s.sqlite"), "--allow-host", "http://x.example/"],
    )
    assert result.exit_code == 2
    assert "--allow-host 'http://x.example/': expected a host name or address" in result.output
    assert not (tmp_path / "s.sqlite").exists()
