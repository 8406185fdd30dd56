"""The report server: the report files of a local storage folder over HTTP, read-only, on the
loopback interface only, so that the links of a run's artifacts open in a browser
(`http://127.0.0.1:PORT/reports/<year>/<phase>/<run>/<file>`), which refuses `file://` links.

Only `reports/` is served (run reports, hold change sets, notices), and from `quarantine/`
only the validation reports, never the rejected feed files themselves (they hold personal
data). Nothing can be written: any method other than GET and HEAD is refused.
"""

from __future__ import annotations

import ipaddress
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from os import PathLike
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from rentree.infra.settings import ConfigurationError

# CSV and markdown shown as text in the browser (with their encoding), not downloaded blind.
_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".parquet": "application/vnd.apache.parquet",
    ".png": "image/png",
}


def servable(path: str) -> bool:
    """May this URL path be served: under /reports/, or a quarantine validation report."""
    parts = [p for p in unquote(urlsplit(path).path).split("/") if p]
    if not parts or ".." in parts or any(p.startswith(".") for p in parts):
        return False
    if parts[0] == "reports":
        return True
    return (
        parts[0] == "quarantine"
        and len(parts) > 1
        and parts[-1].startswith(("validation-report", "rejection"))
    )


class ReportHandler(SimpleHTTPRequestHandler):
    """GET and HEAD of servable paths under the storage root; everything else refused."""

    def guess_type(self, path: str | PathLike[str]) -> str:
        return _TYPES.get(Path(path).suffix.lower()) or super().guess_type(path)

    def send_head(self) -> Any:
        if not servable(self.path):
            self.send_error(HTTPStatus.NOT_FOUND, "Only report files are served here.")
            return None
        return super().send_head()

    def _refuse(self) -> None:
        self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "The report server is read-only.")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        # quiet: the server runs beside `rentree serve`, whose own log says what happens
        return


def make_report_server(root: Path, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A report server over the storage folder `root` (port 0: any free port)."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ConfigurationError(
            f"the report server listens on the loopback interface only, not {host}; "
            "put a reverse proxy with access control in front of it to share reports."
        )
    if not root.is_dir():
        raise ConfigurationError(
            f"the storage folder {root} does not exist; run `rentree init` first."
        )
    handler = partial(ReportHandler, directory=str(root))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise ConfigurationError(
            f"the report server cannot listen on {host}:{port} ({exc.strerror}); set "
            "RENTREE_REPORT_SERVER_PORT to a free port."
        ) from None


def start_report_server(root: Path, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start a report server in a background thread; returns it and its base URL."""
    server = make_report_server(root, port=port)
    thread = threading.Thread(target=server.serve_forever, name="report-server", daemon=True)
    thread.start()
    host, bound = server.server_address[:2]
    return server, f"http://{host!s}:{bound}"
