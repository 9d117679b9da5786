"""Data files: the search order, sha256, and fetching Binance dumps from a local test server."""

import argparse
import hashlib
import http.server
import io
import json
import os
import threading
import zipfile
from datetime import date

import pytest

from clearing.cli.data import add_data_commands
from clearing.data.binance import binance_url, fetch_binance
from clearing.data.directory import default_data_dir, file_sha256, resolve_data_file
from clearing.errors import ConfigError, DataError

DAY = date(2020, 3, 12)
CSV = b"1583971200000,7938.39,7960.52,7938.38,7954.40,420.415,1583971259999,3338345.4,1023,210.2,1669171.3,0\n"
KLINES = "/data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2020-03-12.zip"


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Three data directories holding x.csv: --data-dir, $CLEARING_DATA_DIR, ./data."""
    dirs = {name: tmp_path / name for name in ("option", "env", "cwd/data")}
    for d in dirs.values():
        d.mkdir(parents=True)
        (d / "x.csv").write_text(d.name)
    monkeypatch.setenv("CLEARING_DATA_DIR", str(dirs["env"]))
    monkeypatch.chdir(tmp_path / "cwd")
    return dirs


def test_resolve_data_file_searches_option_then_env_then_dot_data(places):
    assert resolve_data_file("x.csv", places["option"]) == places["option"] / "x.csv"
    (places["option"] / "x.csv").unlink()
    assert resolve_data_file("x.csv", places["option"]) == places["env"] / "x.csv"
    (places["env"] / "x.csv").unlink()
    assert resolve_data_file("x.csv", places["option"]) == places["cwd/data"] / "x.csv"
    assert resolve_data_file("x.csv", None) == places["cwd/data"] / "x.csv"


def test_resolve_data_file_error_lists_every_place_on_one_line(places):
    with pytest.raises(DataError) as info:
        resolve_data_file("y.csv", places["option"])
    message = str(info.value)
    assert "\n" not in message and message.startswith("data file 'y.csv' not found; looked in ")
    for where, label in (("option", "--data-dir"), ("env", "CLEARING_DATA_DIR"), ("cwd/data", "./data")):
        assert f"{places[where] / 'y.csv'} ({label})" in message


def test_resolve_data_file_uses_explicit_paths_inside_the_data_directories_as_they_are(places, tmp_path, monkeypatch):
    (tmp_path / "cwd" / "here.csv").write_text("h")
    assert str(resolve_data_file("./data/x.csv", places["option"])) == "data/x.csv"  # ./data is a data directory
    assert resolve_data_file(str(tmp_path / "env" / "x.csv"), places["option"]) == tmp_path / "env" / "x.csv"
    with pytest.raises(DataError, match=r"./here.csv: outside the data directories .*; pass --allow-path"):
        resolve_data_file("./here.csv", places["option"])
    monkeypatch.setenv("CLEARING_ALLOW_PATH", str(tmp_path / "cwd"))
    assert str(resolve_data_file("./here.csv", places["option"])) == "here.csv"
    with pytest.raises(DataError, match="./x.csv: no such data file"):
        resolve_data_file("./x.csv", places["option"])  # not searched for
    with pytest.raises(DataError, match="not found"):
        resolve_data_file("here.csv", None)  # a bare name is only searched for


def test_default_data_dir_follows_the_same_order(monkeypatch):
    monkeypatch.delenv("CLEARING_DATA_DIR", raising=False)
    assert str(default_data_dir(None)) == "data"
    monkeypatch.setenv("CLEARING_DATA_DIR", "/srv/data")
    assert str(default_data_dir(None)) == "/srv/data" and str(default_data_dir("mine")) == "mine"


def test_file_sha256_matches_hashlib(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc" * 100_000)
    assert file_sha256(path) == hashlib.sha256(b"abc" * 100_000).hexdigest()
    with pytest.raises(DataError, match="missing.bin: cannot read"):
        file_sha256(tmp_path / "missing.bin")


def test_binance_url_has_the_documented_shapes():
    base = "https://data.binance.vision/data/futures/um/daily"
    assert binance_url("btcusdt", DAY, "klines") == f"{base}/klines/BTCUSDT/1m/BTCUSDT-1m-2020-03-12.zip"
    assert binance_url("BTCUSDT", DAY, "aggTrades") == f"{base}/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2020-03-12.zip"
    assert (
        binance_url("BTCUSDT", DAY, "bookDepth", "http://h/")
        == "http://h/data/futures/um/daily/bookDepth/BTCUSDT/BTCUSDT-bookDepth-2020-03-12.zip"
    )
    for bad in ({"kind": "trades"}, {"symbol": "BTC/USDT"}, {"interval": "1x"}):
        with pytest.raises(ConfigError):
            binance_url(**{"symbol": "BTCUSDT", "day": DAY, "kind": "klines", **bad})


def zipped(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class Server:
    """A static file server on 127.0.0.1: `files` maps URL paths to bytes; anything else is 404."""

    def __init__(self):
        files = self.files = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def publish(self, path, zip_bytes, checksum=None):
        self.files[path] = zip_bytes
        digest = checksum or hashlib.sha256(zip_bytes).hexdigest()
        self.files[f"{path}.CHECKSUM"] = f"{digest}  {path.rsplit('/', 1)[1]}\n".encode()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = Server()
    yield server
    server.close()


def test_fetch_binance_verifies_and_extracts_the_csv(server, tmp_path):
    server.publish(KLINES, zipped({"BTCUSDT-1m-2020-03-12.csv": CSV}))
    dest = tmp_path / "new" / "data"
    path = fetch_binance("BTCUSDT", DAY, "klines", dest, base_url=server.url)
    assert path == dest / "BTCUSDT-1m-2020-03-12.csv" and path.read_bytes() == CSV
    assert sorted(p.name for p in dest.iterdir()) == [path.name]  # no temporary files left


def test_fetch_binance_checksum_mismatch_leaves_nothing(server, tmp_path):
    server.publish(KLINES, zipped({"BTCUSDT-1m-2020-03-12.csv": CSV}), checksum="0" * 64)
    with pytest.raises(DataError, match=r"BTCUSDT-1m-2020-03-12.zip: SHA-256 [0-9a-f]{64} does not match 0{64}"):
        fetch_binance("BTCUSDT", DAY, "klines", tmp_path / "d", base_url=server.url)
    assert not (tmp_path / "d").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(DataError, match="does not match"):
        fetch_binance("BTCUSDT", DAY, "klines", tmp_path / "kept", base_url=server.url)
    assert list((tmp_path / "kept").iterdir()) == []


def test_fetch_binance_http_404_is_one_line_naming_the_url(server, tmp_path):
    with pytest.raises(DataError) as info:
        fetch_binance("BTCUSDT", DAY, "bookDepth", tmp_path, base_url=server.url)
    message = str(info.value)
    assert "\n" not in message
    assert (
        message
        == f"{server.url}/data/futures/um/daily/bookDepth/BTCUSDT/BTCUSDT-bookDepth-2020-03-12.zip.CHECKSUM: HTTP 404 Not Found"
    )
    assert list(tmp_path.iterdir()) == []


def test_fetch_binance_unreachable_host_is_one_line(tmp_path):
    with pytest.raises(DataError, match=r"^http://127.0.0.1:9/data/.*CHECKSUM: .+") as info:
        fetch_binance("BTCUSDT", DAY, "klines", tmp_path, base_url="http://127.0.0.1:9", timeout_s=5)
    assert "\n" not in str(info.value)


def test_fetch_binance_refuses_to_overwrite_unless_asked(server, tmp_path):
    server.publish(KLINES, zipped({"BTCUSDT-1m-2020-03-12.csv": CSV}))
    (tmp_path / "BTCUSDT-1m-2020-03-12.csv").write_bytes(b"mine")
    with pytest.raises(DataError, match="BTCUSDT-1m-2020-03-12.csv already exists; pass --overwrite"):
        fetch_binance("BTCUSDT", DAY, "klines", tmp_path, base_url=server.url)
    assert (tmp_path / "BTCUSDT-1m-2020-03-12.csv").read_bytes() == b"mine"
    path = fetch_binance("BTCUSDT", DAY, "klines", tmp_path, base_url=server.url, overwrite=True)
    assert path.read_bytes() == CSV and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("content", [{"a.csv": CSV, "b.csv": CSV}, {"a.txt": CSV}, None])
def test_fetch_binance_refuses_a_zip_without_exactly_one_csv(server, tmp_path, content):
    server.publish(KLINES, zipped(content) if content else b"not a zip at all")
    with pytest.raises(DataError, match="expected one CSV file in the zip|not a valid zip file"):
        fetch_binance("BTCUSDT", DAY, "klines", tmp_path, base_url=server.url)
    assert list(tmp_path.iterdir()) == []


def build_parser():
    parser = argparse.ArgumentParser(prog="clearing")
    parser.add_argument("--data-dir")
    add_data_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_data_where_prints_sha256_and_path(places, capsys):
    parser = build_parser()
    for argv, expected in (
        (["data", "where", "x.csv"], places["env"] / "x.csv"),
        (["--data-dir", str(places["option"]), "data", "where", "x.csv"], places["option"] / "x.csv"),
        (["data", "where", "x.csv", "--data-dir", str(places["option"])], places["option"] / "x.csv"),
    ):
        args = parser.parse_args(argv)
        assert args.func(args) == 0
        assert capsys.readouterr().out == f"{file_sha256(expected)}  {expected}\n"
    args = parser.parse_args(["data", "where", "x.csv", "--json"])
    assert args.func(args) == 0
    expected = places["env"] / "x.csv"
    assert json.loads(capsys.readouterr().out) == {"name": "x.csv", "path": str(expected), "sha256": file_sha256(expected),
                                                   "bytes": expected.stat().st_size}  # fmt: skip
    args = parser.parse_args(["data", "where", "nope.csv"])
    with pytest.raises(DataError, match="not found; looked in"):
        args.func(args)


def test_cli_data_fetch_binance_writes_into_the_data_dir(server, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CLEARING_DATA_DIR", raising=False)
    server.publish(KLINES, zipped({"BTCUSDT-1m-2020-03-12.csv": CSV}))
    args = build_parser().parse_args(["--data-dir", str(tmp_path), "data", "fetch", "binance", "--symbol", "BTCUSDT",
                                      "--date", "2020-03-12", "--base-url", server.url])  # fmt: skip
    assert args.func(args) == 0
    path = tmp_path / "BTCUSDT-1m-2020-03-12.csv"
    assert (
        capsys.readouterr().out == f"{path}: {len(CSV)} bytes, zip checksum verified, sha256 {hashlib.sha256(CSV).hexdigest()}\n"
    )
    with pytest.raises(DataError, match="already exists"):
        args.func(args)
    args = build_parser().parse_args(["data", "fetch", "binance", "--symbol", "BTCUSDT", "--date", "2020-03-12",
                                      "--base-url", server.url, "--dest", str(tmp_path / "d"), "--overwrite"])  # fmt: skip
    assert args.func(args) == 0 and (tmp_path / "d" / path.name).read_bytes() == CSV


def test_cli_data_fetch_refuses_a_bad_date(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["data", "fetch", "binance", "--symbol", "BTCUSDT", "--date", "12/03/2020"])
    assert info.value.code == 2 and "expected a date YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["file:///", "file:///etc", "ftp://example.com", "data.binance.vision", "http://"])
def test_only_http_urls_are_fetched(tmp_path, url):
    with pytest.raises(ConfigError, match="expected an http:// or https:// URL"):
        fetch_binance("BTCUSDT", DAY, "klines", tmp_path, base_url=url)
    assert not any(tmp_path.iterdir())


def test_a_data_file_outside_the_data_directories_is_read_only_with_allow_path(tmp_path, capsys, monkeypatch):
    from clearing.cli import main

    monkeypatch.delenv("CLEARING_DATA_DIR", raising=False)
    outside = tmp_path / "elsewhere" / "bars.csv"
    outside.parent.mkdir()
    outside.write_text("x")
    data = tmp_path / "data"
    data.mkdir()
    assert main(["--data-dir", str(data), "data", "where", str(outside)]) == 2
    err = capsys.readouterr().err
    assert "outside the data directories" in err and f"--allow-path {outside.parent}" in err
    assert main(["--data-dir", str(data), "--allow-path", str(outside.parent), "data", "where", str(outside)]) == 0
    assert str(outside) in capsys.readouterr().out
    assert "CLEARING_ALLOW_PATH" not in os.environ  # for that command only
    assert main(["--data-dir", str(data), "data", "where", "../" * 20 + "etc/passwd"]) == 2
