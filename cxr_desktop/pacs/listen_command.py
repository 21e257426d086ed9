"""``cxr-desktop listen``: a Storage SCP that scores each chest film as it arrives.

The parser is built without importing pynetdicom, so the other commands start no slower.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import signal
import ssl
import sys
import threading
from pathlib import Path

from cxr_desktop.core.bundle import DEFAULT_MODEL
from cxr_desktop.core.errors import CxrError

DEFAULT_PORT = 11112


def add_listen_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    listen = sub.add_parser(
        "listen",
        help="receive films over DICOM (Storage SCP), score each, send an SR and a heat-map on",
        description="A DICOM Storage SCP: stores every instance received, scores CR, DX and Secondary Capture"
        " chest films as they arrive, writes a DICOM SR (TID 1500) and a heat-map Secondary Capture per film"
        " and sends both to --forward. Answers C-ECHO. Only this computer may connect unless --host says"
        " otherwise, and then only the AE titles in --allow.",
    )
    listen.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    listen.add_argument("--ae-title", default="CXRDESKTOP", help="this listener's AE title (default CXRDESKTOP)")
    listen.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0 for the network, with --allow)",
    )
    listen.add_argument("--forward", metavar="HOST:PORT:AET", help="send each film's SR and heat-map to this node")
    listen.add_argument("--model", default=DEFAULT_MODEL, help="bundled model name or bundle folder")
    listen.add_argument("--store", type=Path, default=None, help="folder for received films and results")
    listen.add_argument(
        "--log", type=Path, default=None, help="CSV log, one row per instance (default STORE/received.csv)"
    )
    listen.add_argument("--allow", nargs="+", default=[], metavar="AET", help="calling AE titles accepted")
    listen.add_argument("--tls-cert", type=Path, help="PEM certificate: accept TLS associations only")
    listen.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    listen.add_argument("--tls-ca", type=Path, help="PEM CA bundle: senders must present a certificate it signed")


def tls_context(cert: Path, key: Path | None, ca: Path | None) -> ssl.SSLContext:
    """Server-side TLS for every association; with a CA, senders must authenticate too."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca) if ca else None)
    context.load_cert_chain(str(cert), str(key) if key else None)
    if ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def run_listen(args: argparse.Namespace) -> int:
    if not all(importlib.util.find_spec(name) for name in ("pynetdicom", "highdicom")):
        from cxr_desktop.pacs.nodes import NOT_INSTALLED

        print(f"cxr-desktop: error: {NOT_INSTALLED}", file=sys.stderr)
        return 2
    from cxr_desktop.core.appdirs import user_data_dir
    from cxr_desktop.core.bundle import load_bundle
    from cxr_desktop.pacs.listener import Listener
    from cxr_desktop.pacs.nodes import check_ae_title, check_port, parse_address
    from cxr_desktop.pacs.receive_log import ReceiveLog
    from cxr_desktop.pacs.scp import StorageServer

    store = args.store or user_data_dir() / "pacs-store"
    try:
        ae_title = check_ae_title(args.ae_title)
        port = check_port(args.port)
        allow = [check_ae_title(title) for title in args.allow]
        forward = parse_address(args.forward) if args.forward else None
        if not allow and not _loopback(args.host):
            raise CxrError(f"listening on {args.host} accepts senders from the network: name them with --allow AET")
        context = tls_context(args.tls_cert, args.tls_key, args.tls_ca) if args.tls_cert else None
        bundle = load_bundle(args.model)
        from cxr_desktop.engine import load_engine

        engine = load_engine(bundle)
        receive_log = ReceiveLog(args.log or store / "received.csv", bundle.classes)
    except (CxrError, OSError, ssl.SSLError) as exc:
        print(f"cxr-desktop: error: {exc}", file=sys.stderr)
        return 2
    listener = Listener(engine, bundle, receive_log, store / "results", forward=forward, calling_ae=ae_title)
    server = StorageServer(
        store / "received",
        listener.received,
        ae_title=ae_title,
        host=args.host,
        port=port,
        allow=allow,
        ssl_context=context,
    )
    try:
        server.start()
    except CxrError as exc:
        listener.stop()
        print(f"cxr-desktop: error: {exc}", file=sys.stderr)
        return 2
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    print(
        f"listening on {args.host}:{server.port} as {ae_title} ({'TLS' if context else 'no TLS'};"
        f" {'calling AEs ' + ', '.join(allow) if allow else 'any calling AE'}); {bundle.title} on"
        f" {engine.device_description}; forwarding to {forward.label if forward else 'nowhere'};"
        f" store {store}; log {receive_log.path}",
        file=sys.stderr,
        flush=True,
    )
    stopped.wait()
    server.stop()
    listener.stop()
    receive_log.close()
    print("listener stopped", file=sys.stderr)
    return 0


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
