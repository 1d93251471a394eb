"""A minimal in-memory S3 service on 127.0.0.1 for tests of the Kubernetes profile.

Snakemake asks the default storage provider whether each input exists even for a dry run, so
``snakemake --profile profiles/kubernetes -n`` needs an S3 endpoint to answer. This one answers
the calls the S3 storage plugin makes (path-style addressing, as boto3 uses for an IP endpoint):
HeadBucket, CreateBucket, HeadObject, GetObject, PutObject, DeleteObject and ListObjectsV2.
Signatures are not checked (any credentials are accepted); requests are recorded.

    with FakeS3() as s3:
        env = {"SNAKEMAKE_STORAGE_S3_ENDPOINT_URL": s3.url, ...}
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

__all__ = ["FakeS3"]


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, fmt, *args):  # keep the test output clean
        pass

    def _split(self):
        parts = urlsplit(self.path)
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        return bucket, key, parse_qs(parts.query)

    def _reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status, code):
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{code}</Message></Error>").encode()
        self._reply(status, body, {"Content-Type": "application/xml"})

    def _record(self):
        bucket, key, query = self._split()
        with self.server.lock:
            self.server.requests.append((self.command, bucket, key))
        return bucket, key, query

    def do_HEAD(self):
        bucket, key, _ = self._record()
        objects = self.server.buckets.get(bucket)
        if objects is None:
            return self._error(404, "NoSuchBucket")
        if not key:
            return self._reply(200)
        if key not in objects:
            return self._error(404, "NotFound")
        data, mtime = objects[key]
        self._reply(200, data, {"Content-Type": "application/octet-stream",
                                "Last-Modified": format_datetime(mtime, usegmt=True),
                                "ETag": f'"{hash(data) & 0xffffffff:08x}"'})

    def do_GET(self):
        bucket, key, query = self._record()
        objects = self.server.buckets.get(bucket)
        if objects is None:
            return self._error(404, "NoSuchBucket")
        if key:
            if key not in objects:
                return self._error(404, "NoSuchKey")
            data, mtime = objects[key]
            return self._reply(200, data, {"Content-Type": "application/octet-stream",
                                           "Last-Modified": format_datetime(mtime, usegmt=True)})
        prefix = query.get("prefix", [""])[0]
        items = "".join(
            f"<Contents><Key>{escape(k)}</Key>"
            f"<LastModified>{m.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</LastModified>"
            f"<Size>{len(d)}</Size><StorageClass>STANDARD</StorageClass></Contents>"
            for k, (d, m) in sorted(objects.items()) if k.startswith(prefix))
        count = sum(k.startswith(prefix) for k in objects)
        body = ('<?xml version="1.0" encoding="UTF-8"?>'
                '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>"
                f"<KeyCount>{count}</KeyCount><MaxKeys>1000</MaxKeys>"
                f"<IsTruncated>false</IsTruncated>{items}</ListBucketResult>").encode()
        self._reply(200, body, {"Content-Type": "application/xml"})

    def do_PUT(self):
        bucket, key, _ = self._record()
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        with self.server.lock:
            if not key:
                self.server.buckets.setdefault(bucket, {})
                return self._reply(200)
            if bucket not in self.server.buckets:
                return self._error(404, "NoSuchBucket")
            self.server.buckets[bucket][key] = (data, datetime.now(timezone.utc))
        self._reply(200, b"", {"ETag": '"0"'})

    def do_DELETE(self):
        bucket, key, _ = self._record()
        with self.server.lock:
            if key:
                self.server.buckets.get(bucket, {}).pop(key, None)
            else:
                self.server.buckets.pop(bucket, None)
        self._reply(204)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.buckets: dict[str, dict[str, tuple[bytes, datetime]]] = {}
        self.requests: list[tuple[str, str, str]] = []


class FakeS3:
    """Context manager running the fake service in a thread; ``url`` is its endpoint."""

    def __init__(self, buckets=()):
        self._server = _Server()
        for b in buckets:
            self._server.buckets[b] = {}
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[tuple[str, str, str]]:
        with self._server.lock:
            return list(self._server.requests)

    @property
    def buckets(self) -> dict:
        return self._server.buckets

    def __enter__(self) -> "FakeS3":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
