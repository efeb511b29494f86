"""Shared fixtures: a fresh workspace per test, and the real servers (PostgreSQL, Redis, S3).

A test that needs a server it cannot reach skips with a message saying how to start it; with
``CI=true`` in the environment it fails instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.config import Settings, reset_settings
from modelyard.storage import Workspace, set_default_workspace

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get(
    "MODELYARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("MODELYARD_TEST_REDIS", "redis://127.0.0.1:6379/0")
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
REDIS_START = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


def unavailable(service: str, how: str, error: object) -> None:
    """Skip (locally) or fail (CI=true) a test whose server is not reachable."""
    message = f"{service} is not reachable ({error}). Start it with: {how}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a fresh workspace ----------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own MODELYARD_HOME (and no stray modelyard.yaml)."""
    home = tmp_path / "home"
    monkeypatch.setenv("MODELYARD_HOME", str(home))
    for name in Settings.field_names():
        if name != "home":
            monkeypatch.delenv(f"MODELYARD_{name.upper()}", raising=False)
    monkeypatch.chdir(tmp_path)
    reset_settings()
    set_default_workspace(None)
    yield
    set_default_workspace(None)
    reset_settings()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace(Settings.resolve(home=str(tmp_path / "home")))
    yield ws
    ws.close()


# -- PostgreSQL ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A fresh database on the real server for this test session; dropped afterwards."""
    try:
        import psycopg
    except ImportError as exc:
        unavailable("psycopg", "pip install 'modelyard[postgres]'", exc)
    admin = PG_ADMIN_URL.replace("postgresql://", "postgresql://", 1)
    name = f"modelyard_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL on 127.0.0.1:5432", PG_START, exc)
    base = admin.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_uri(postgres_server: str) -> Iterator[str]:
    """A fresh schema-less database per test would be slow: each test gets an empty database
    by dropping and recreating the public schema of the session database."""
    import psycopg

    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    yield postgres_server


@pytest.fixture(params=["sqlite", "postgresql"])
def metadata_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every metadata backend, for the conformance suite."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'conformance.db'}"
    return str(request.getfixturevalue("postgres_uri"))


# -- Redis -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_server() -> str:
    try:
        import redis
    except ImportError as exc:
        unavailable("redis-py", "pip install 'modelyard[redis]'", exc)
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError as exc:
        unavailable("Redis on 127.0.0.1:6379", REDIS_START, exc)
    return REDIS_URL


@pytest.fixture
def redis_namespace(redis_server: str) -> Iterator[tuple[str, str]]:
    """(url, namespace): a key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    namespace = f"mytest:{uuid.uuid4().hex[:10]}"
    yield redis_server, namespace
    client = redis.Redis.from_url(redis_server)
    keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
    if keys:
        client.delete(*keys)


# -- S3 (moto_server on 127.0.0.1) -----------------------------------------------------------
@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A local S3 (moto_server) on a free port; yields its endpoint URL."""
    try:
        import s3fs  # noqa: F401
    except ImportError as exc:
        unavailable("s3fs", "pip install 'modelyard[s3]' 'moto[server]'", exc)
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which(
        "moto_server"
    )
    if exe is None:
        unavailable("moto_server", "pip install 'moto[server]'", "not installed")
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        unavailable("moto_server", "pip install 'moto[server]'", "did not start within 30 s")
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """(endpoint, bucket): a fresh bucket on the local S3 server, with test credentials set."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"mytest-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    yield s3_server, bucket
