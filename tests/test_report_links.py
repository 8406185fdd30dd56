"""Report links open in a browser: the report server serves a local folder's reports over
HTTP on loopback, read-only; an S3 store gives presigned URLs; each link says what the file
holds."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from rentree.infra.report_server import servable, start_report_server
from rentree.infra.reports import describe_report, write_report
from rentree.infra.settings import ConfigurationError
from rentree.infra.storage import LocalStore, ObjectStore


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LocalStore, str]]:
    store = LocalStore(tmp_path / "storage")
    store.ensure_layout()
    server, url = start_report_server(store.root)
    yield store, url
    server.shutdown()
    server.server_close()


def fetch(url: str, method: str = "GET") -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, method=method, data=b"x" if method != "GET" else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, b"", ""


def test_the_report_server_serves_reports_read_only_on_loopback(
    served: tuple[LocalStore, str],
) -> None:
    store, url = served
    assert url.startswith("http://127.0.0.1:")
    report = write_report(
        store, "reports/2025-2026/freeze/r1/", "bookmark_cleanup", pl.DataFrame({"owner": ["t1"]})
    )
    status, body, kind = fetch(f"{url}/{report.csv_key}")
    assert status == 200 and body.startswith(b"\xef\xbb\xbfowner") and kind.startswith("text/csv")
    store.write_bytes("quarantine/2025-2026/20250828/ENT_Complet_20250828_Eleve_0000.xml", b"<x/>")
    store.write_bytes("quarantine/2025-2026/20250828/validation-report.csv", b"a;b\n")
    assert fetch(f"{url}/quarantine/2025-2026/20250828/validation-report.csv")[0] == 200
    # the rejected feed file itself (personal data), other roots, traversal: not served
    for path in (
        "quarantine/2025-2026/20250828/ENT_Complet_20250828_Eleve_0000.xml",
        "landing/2025-2026/x.xml",
        "reports/../landing/2025-2026/x.xml",
    ):
        assert fetch(f"{url}/{path}")[0] == 404, path
    assert fetch(f"{url}/{report.csv_key}", method="PUT")[0] == 405
    assert fetch(f"{url}/{report.csv_key}", method="POST")[0] == 405
    assert store.read_bytes(report.csv_key).startswith(b"\xef\xbb\xbf")


def test_the_report_server_listens_on_loopback_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="loopback interface only"):
        from rentree.infra.report_server import make_report_server

        make_report_server(tmp_path, host="0.0.0.0")
    assert not servable("/reports/.hidden") and servable("/reports/2025-2026/x/y.csv")


def test_an_s3_report_link_is_a_presigned_url_a_browser_opens(store: ObjectStore) -> None:
    key = "reports/2025-2026/storage-report/r1/storage-schools.csv"
    store.write_bytes(key, b"\xef\xbb\xbfschool;total_bytes\n")
    url = store.browser_link(key, 600)
    if isinstance(store, LocalStore):
        assert url is None  # the report server serves a local folder
        return
    assert url is not None and "X-Amz-Expires=600" in url and "Signature" in url
    status, body, _ = fetch(url)
    assert status == 200 and body == b"\xef\xbb\xbfschool;total_bytes\n"


def test_each_report_says_what_it_holds() -> None:
    assert describe_report("reports/y/holds/h/who-goes-missing.csv").startswith("Everyone")
    assert "R6" in describe_report("reports/y/freeze/r/pre-purge-notice.csv")
    assert "per owner" in describe_report("reports/y/freeze/r/pre-purge-notice-owners.csv")
    assert describe_report("reports/y/x/r/unknown.csv") == "Report file unknown.csv"
