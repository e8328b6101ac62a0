"""The rating app over real HTTP: a `rwsr mos serve` process and a real client."""

from __future__ import annotations

import http.client
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest
import requests
from mos_helpers import ServerProcess, start_server, study_config, write_study_dirs

from rwsr.mos.app import COOKIE
from rwsr.mos.build import build_study
from rwsr.mos.results import compute_report

TIMEOUT = 30  # seconds per request: generous for a loaded 2-core machine, yet bounded
RATERS = 20


def query(db: Path, sql: str, *args: object) -> list[tuple]:
    connection = sqlite3.connect(db)
    try:
        return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, Path]]]:
    """Running studies of 6 patches x 2 methods: 'plain', 'revisable' (revisions on) and
    'partial' (3 patches per rater)."""
    root = tmp_path_factory.mktemp("http")
    dirs = write_study_dirs(root)
    running: list[ServerProcess] = []
    result = {}
    kinds: dict[str, dict[str, object]] = {
        "plain": {},
        "revisable": {"allow_revisions": True},
        "partial": {"patches_per_rater": 3},
    }
    for name, options in kinds.items():
        db = root / f"{name}.sqlite"
        build_study(study_config(dirs, patches=6, **options), db)
        running.append(start_server(db))
        result[name] = (running[-1].url, db)
    yield result
    for server in running:
        server.kill()


def join(url: str) -> tuple[requests.Session, dict]:
    session = requests.Session()
    response = session.post(url + "api/session", json={}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return session, response.json()


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def test_full_study_flow(studies: dict[str, tuple[str, Path]]) -> None:
    url, db = studies["plain"]
    page = requests.get(url, timeout=TIMEOUT)
    assert page.status_code == 200 and "Image quality study" in page.text
    assert "nosniff" == page.headers["X-Content-Type-Options"]
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    script = requests.get(url + "app.js", timeout=TIMEOUT)
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert requests.get(url + "api/session", timeout=TIMEOUT).json()["rater"] is None

    session, state = join(url)
    cookie = session.cookies.get(COOKIE)
    assert cookie and (state["done"], state["total"], state["next"]) == (0, 12, 0)
    assert state["labels"][0] == "Perfect" and state["labels"][5] == "Terrible"
    raw_cookie = session.post(url + "api/session", json={}, timeout=TIMEOUT)
    assert raw_cookie.json()["rater"] == state["rater"]  # joining again keeps the same rater
    assert "Set-Cookie" not in raw_cookie.headers

    for position in range(12):
        images = {
            side: session.get(f"{url}api/trials/{position}/{side}.png", timeout=TIMEOUT)
            for side in ("reference", "result")
        }
        for response in images.values():
            assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
            assert decode(response.content).shape == (16, 16, 3)
        [(reference, result)] = query(
            db,
            "SELECT p.reference_png, t.png FROM assignments a JOIN trials t ON t.id = a.trial_id "
            "JOIN patches p ON p.id = t.patch_id WHERE a.rater_id = ? AND a.position = ?",
            state["rater"],
            position,
        )
        assert images["reference"].content == reference and images["result"].content == result
        etag = images["result"].headers["ETag"]
        unchanged = session.get(
            f"{url}api/trials/{position}/result.png",
            headers={"If-None-Match": etag},
            timeout=TIMEOUT,
        )
        assert unchanged.status_code == 304 and unchanged.content == b""
        rated = session.post(
            f"{url}api/trials/{position}/rating",
            json={"score": position % 6, "elapsed_ms": 800},
            timeout=TIMEOUT,
        )
        assert rated.status_code == 200, rated.text
        assert rated.json()["done"] == position + 1
        assert rated.json()["next"] == (position + 1 if position < 11 else None)

    final = session.get(url + "api/session", timeout=TIMEOUT).json()
    assert (final["done"], final["next"]) == (12, None)
    stored = query(
        db,
        "SELECT a.position, r.score, r.elapsed_ms FROM ratings r JOIN assignments a "
        "ON a.rater_id = r.rater_id AND a.trial_id = r.trial_id WHERE r.rater_id = ? "
        "ORDER BY a.position",
        state["rater"],
    )
    assert stored == [(p, p % 6, 800) for p in range(12)]


def test_cookie_is_private_to_this_site(studies: dict[str, tuple[str, Path]]) -> None:
    url, _ = studies["plain"]
    response = requests.post(url + "api/session", json={}, timeout=TIMEOUT)
    header = response.headers["Set-Cookie"]
    assert header.startswith(f"{COOKIE}=") and "HttpOnly" in header and "SameSite=Strict" in header


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"score": 6}, {}, 400),
        ({"score": -1}, {}, 400),
        ({"score": "3"}, {}, 400),
        ({"score": 2.5}, {}, 400),
        ({"score": 2.0}, {}, 400),
        ({"score": True}, {}, 400),
        ({"score": None}, {}, 400),
        ({}, {}, 400),
        ([3], {}, 400),
        ({"score": 3, "method": "Sharp"}, {}, 400),
        ({"score": 3, "elapsed_ms": -5}, {}, 400),
        ({"score": 3, "elapsed_ms": "fast"}, {}, 400),
        ("{not json", {"Content-Type": "application/json"}, 400),
        ("score=3", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"score": 3, "pad": "x" * 5000}, {}, 413),
        ({"score": 3}, {"Origin": "http://attacker.example"}, 403),
    ],
)
def test_invalid_ratings_are_rejected_and_nothing_stored(
    studies: dict[str, tuple[str, Path]], body: object, headers: dict[str, str], status: int
) -> None:
    url, db = studies["plain"]
    session, state = join(url)
    target = f"{url}api/trials/0/rating"
    if isinstance(body, str):
        response = session.post(target, data=body, headers=headers, timeout=TIMEOUT)
    else:
        response = session.post(target, json=body, headers=headers, timeout=TIMEOUT)
    assert response.status_code == status, response.text
    assert "error" in response.json()
    assert query(db, "SELECT COUNT(*) FROM ratings WHERE rater_id = ?", state["rater"]) == [(0,)]
    ok = session.post(target, json={"score": 3}, timeout=TIMEOUT)
    assert ok.status_code == 200


def test_trials_outside_the_raters_queue_and_double_ratings(
    studies: dict[str, tuple[str, Path]],
) -> None:
    url, db = studies["plain"]
    session, state = join(url)
    for position in ("12", "999999999999999999999999", "-1", "abc"):
        response = session.post(
            f"{url}api/trials/{position}/rating", json={"score": 1}, timeout=TIMEOUT
        )
        assert response.status_code == 404, position
        assert (
            session.get(f"{url}api/trials/{position}/result.png", timeout=TIMEOUT).status_code
            == 404
        )
    assert session.get(f"{url}api/trials/0/other.png", timeout=TIMEOUT).status_code == 404
    assert session.get(f"{url}api/trials/0/rating", timeout=TIMEOUT).status_code == 405
    first = session.post(f"{url}api/trials/3/rating", json={"score": 1}, timeout=TIMEOUT)
    again = session.post(f"{url}api/trials/3/rating", json={"score": 5}, timeout=TIMEOUT)
    assert (first.status_code, again.status_code) == (200, 409)
    assert query(db, "SELECT score FROM ratings WHERE rater_id = ?", state["rater"]) == [(1,)]


def test_no_or_forged_rater_is_refused(studies: dict[str, tuple[str, Path]]) -> None:
    url, _ = studies["plain"]
    anonymous = requests.Session()
    forged = requests.Session()
    forged.cookies.set(COOKIE, "A" * 43)
    for client in (anonymous, forged):
        rating = client.post(f"{url}api/trials/0/rating", json={"score": 1}, timeout=TIMEOUT)
        assert rating.status_code == 401 and "Start" in rating.json()["error"]
        assert client.get(f"{url}api/trials/0/result.png", timeout=TIMEOUT).status_code == 401
        assert client.get(f"{url}api/trials/0", timeout=TIMEOUT).status_code == 401


TRAVERSALS = [
    "/../../../../etc/passwd",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "/%2e%2e/%2e%2e/pyproject.toml",
    "/static/../../pyproject.toml",
    "/app.js/../../../etc/passwd",
    "/api/trials/0/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/api/trials/0/../../../../../etc/passwd",
    "/api/trials/0/reference.png/../../../../etc/passwd",
    "//etc/passwd",
    "/index.html",
    "/mos/static/app.js",
    "/conftest.py",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_reaches_the_file_system(studies: dict[str, tuple[str, Path]], path: str) -> None:
    url, _ = studies["plain"]
    session, _ = join(url)
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=TIMEOUT)
    try:
        # http.client sends the path as written: no client-side normalisation of '..'.
        connection.request("GET", path, headers={"Cookie": f"{COOKIE}={session.cookies[COOKIE]}"})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status in (400, 404), (path, response.status)
    assert b"root:" not in body and b"[project]" not in body and b"import" not in body


def test_twenty_raters_at_once_store_every_rating_exactly_once(
    studies: dict[str, tuple[str, Path]],
) -> None:
    url, db = studies["plain"]
    barrier = threading.Barrier(RATERS, timeout=TIMEOUT)
    problems: list[str] = []
    raters: dict[int, int] = {}

    def rater(index: int) -> None:
        try:
            barrier.wait()
            session, state = join(url)
            raters[index] = state["rater"]
            for position in range(state["total"]):
                for side in ("reference", "result"):
                    image = session.get(f"{url}api/trials/{position}/{side}.png", timeout=TIMEOUT)
                    if image.status_code != 200:
                        problems.append(f"rater {index} image {position}: {image.status_code}")
                score = (index + position) % 6
                response = session.post(
                    f"{url}api/trials/{position}/rating", json={"score": score}, timeout=TIMEOUT
                )
                if response.status_code != 200:
                    problems.append(f"rater {index} trial {position}: {response.status_code}")
            duplicate = session.post(
                f"{url}api/trials/0/rating", json={"score": 0}, timeout=TIMEOUT
            )
            if duplicate.status_code != 409:
                problems.append(f"rater {index} duplicate: {duplicate.status_code}")
        except Exception as error:  # noqa: BLE001 - collected and reported by the main thread
            problems.append(f"rater {index}: {error!r}")

    threads = [threading.Thread(target=rater, args=(i,)) for i in range(RATERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "raters did not finish in time"
    assert problems == []
    assert len(set(raters.values())) == RATERS
    ids = ",".join(str(r) for r in raters.values())
    stored = query(
        db,
        "SELECT r.rater_id, a.position, r.score FROM ratings r JOIN assignments a "
        f"ON a.rater_id = r.rater_id AND a.trial_id = r.trial_id WHERE r.rater_id IN ({ids})",
    )
    expected = {
        (raters[index], position, (index + position) % 6)
        for index in range(RATERS)
        for position in range(12)
    }
    assert len(stored) == RATERS * 12 and set(stored) == expected


def test_revisions_replace_the_answer_when_the_study_allows_them(
    studies: dict[str, tuple[str, Path]],
) -> None:
    url, db = studies["revisable"]
    session, state = join(url)
    assert state["allow_revisions"] is True
    for score in (2, 4):
        response = session.post(f"{url}api/trials/0/rating", json={"score": score}, timeout=TIMEOUT)
        assert response.status_code == 200 and response.json()["done"] == 1
    assert session.get(f"{url}api/trials/0", timeout=TIMEOUT).json() == {"position": 0, "score": 4}
    rows = query(db, "SELECT score, revisions FROM ratings WHERE rater_id = ?", state["rater"])
    assert rows == [(4, 1)]


def test_report_reads_a_study_while_it_is_served(studies: dict[str, tuple[str, Path]]) -> None:
    url, db = studies["plain"]
    session, _ = join(url)
    assert session.post(f"{url}api/trials/0/rating", json={"score": 1}, timeout=TIMEOUT).ok
    report = compute_report(db)
    [(count,)] = query(db, "SELECT COUNT(*) FROM ratings")
    assert report.used_ratings == count >= 1


def test_raters_joining_at_once_share_the_patches_evenly(
    studies: dict[str, tuple[str, Path]],
) -> None:
    url, db = studies["partial"]
    barrier = threading.Barrier(RATERS, timeout=TIMEOUT)
    totals: list[int] = []

    def arrive() -> None:
        barrier.wait()
        totals.append(join(url)[1]["total"])

    threads = [threading.Thread(target=arrive) for _ in range(RATERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert totals == [6] * RATERS  # 3 patches x 2 methods each
    coverage = query(
        db,
        "SELECT t.patch_id, COUNT(DISTINCT a.rater_id) FROM assignments a "
        "JOIN trials t ON t.id = a.trial_id GROUP BY t.patch_id",
    )
    assert sorted(count for _, count in coverage) == [10] * 6  # 20 raters x 3 / 6 patches


def test_max_raters_turns_away_the_rest_at_once_and_keeps_the_admitted(tmp_path: Path) -> None:
    dirs = write_study_dirs(tmp_path)
    db = tmp_path / "capped.sqlite"
    build_study(study_config(dirs, patches=6), db)
    server = start_server(db, "--max-raters", "3")
    try:
        barrier = threading.Barrier(8, timeout=TIMEOUT)
        answers: list[tuple[int, dict, requests.Session]] = []

        def arrive() -> None:
            session = requests.Session()
            barrier.wait()
            response = session.post(server.url + "api/session", json={}, timeout=TIMEOUT)
            answers.append((response.status_code, response.json(), session))

        threads = [threading.Thread(target=arrive) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        codes = sorted(code for code, _, _ in answers)
        assert codes == [200] * 3 + [503] * 5
        assert all("full" in body["error"] for code, body, _ in answers if code == 503)
        assert query(db, "SELECT COUNT(*) FROM raters") == [(3,)]
        admitted = next(session for code, _, session in answers if code == 200)
        again = admitted.post(server.url + "api/session", json={}, timeout=TIMEOUT)
        assert again.status_code == 200 and again.json()["total"] == 12  # a known rater returns
    finally:
        server.kill()
