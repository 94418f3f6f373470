"""`backfill-console simulate`: the GitHub GraphQL simulator as a foreground HTTP server.

Prints exactly one first line, `listening on http://HOST:PORT`, so tests and the demo can start
it with `--port 0` and read the URL. Ctrl-C or SIGTERM stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from core.simulator import FaultSpec, RepoSpec, SimConfig, Simulator
from core.simulator.app import AppSpec, InstallationSpec
from core.simulator.config import PROFILES, apply_profile, fault_help
from core.simulator.server import base_url, make_server

DEFAULT_REPOS = ["octo-org/backfill-demo:250", "octo-org/monorepo:2000"]


def _repo(text: str) -> RepoSpec:
    try:
        return RepoSpec.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _faults(text: str) -> FaultSpec:
    try:
        return FaultSpec.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 65535")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _positive_int(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def _non_negative_float(text: str) -> float:
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="serve a simulated GitHub GraphQL API (for tests and demos)",
        description=(
            "Serve GitHub's GraphQL API, simulated: POST /graphql and /api/graphql, "
            "GET /_sim/stats. Point GITHUB_GRAPHQL_URL at http://HOST:PORT/graphql; any "
            "non-empty token is accepted (with --app-id, installation tokens only while "
            "they live)."
        ),
        epilog="fault kinds for --faults:\n" + fault_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=_port, default=0, help="port; 0 picks a free one")
    parser.add_argument(
        "--repo",
        dest="repos",
        action="append",
        type=_repo,
        metavar="OWNER/NAME:PRS",
        help="a simulated repository and its number of PRs (repeatable)",
    )
    parser.add_argument("--limit", type=_positive_int, default=5000, help="points per window")
    parser.add_argument(
        "--window-seconds", type=_positive_float, default=3600.0, help="budget window length"
    )
    parser.add_argument(
        "--faults",
        type=_faults,
        default=None,
        metavar="SPEC",
        help=(
            "comma-separated faults, random (KIND:RATE) or aimed (KIND@OWNER/NAME[#N][*K]), "
            "e.g. 502:0.1,saml@acme/api,vanish@acme/web#12*1; every KIND is listed below"
        ),
    )
    parser.add_argument("--seed", type=_int, default=0, help="data and fault seed")
    parser.add_argument(
        "--latency-ms", type=_non_negative_float, default=0.0, help="base server time per request"
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="default",
        help=(
            "github: GitHub's server time (answers take time growing with their nodes, "
            "killed with 502/504 past 10 s, 60 s of server time per minute per token, "
            "RESOURCE_LIMITS_EXCEEDED on wide pages), calibrated to public measurements"
        ),
    )
    parser.add_argument(
        "--time-scale",
        type=_positive_float,
        default=1.0,
        metavar="F",
        help=(
            "divide every duration (server time, the budget window, the secondary limits' "
            "minute, retry-after) by F; reports stay in GitHub's seconds"
        ),
    )
    app = parser.add_argument_group(
        "GitHub App",
        "play GitHub's App side: GET /app/installations, POST /app/installations/ID/"
        "access_tokens and GET /repos/OWNER/NAME/installation with the App's JWT (RS256, "
        "checked against --app-public-key); installation tokens see only their owners' "
        "repositories and share one budget per installation",
    )
    app.add_argument("--app-id", type=_positive_int, default=None, metavar="ID", help="App id")
    app.add_argument(
        "--app-public-key",
        default=None,
        metavar="PEM_PATH",
        help="the App's RSA public key (PEM file) that verifies its JWTs",
    )
    app.add_argument(
        "--installation",
        dest="installations",
        action="append",
        type=_installation,
        default=None,
        metavar="ID:OWNER[,OWNER...]",
        help="an installation and the owners whose repositories it sees (repeatable)",
    )
    app.add_argument(
        "--installation-limit",
        type=_positive_int,
        default=5000,
        metavar="N",
        help="points per window of each installation (5000)",
    )
    app.add_argument(
        "--token-ttl",
        type=_positive_float,
        default=3600.0,
        metavar="S",
        help="seconds an installation token lives (3600; divided by --time-scale)",
    )
    parser.set_defaults(func=run)


def _installation(text: str) -> InstallationSpec:
    try:
        return InstallationSpec.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _app(args: argparse.Namespace) -> AppSpec | None:
    """The App from the flags, or None; ValueError with a message for users."""
    given = args.app_id is not None or args.app_public_key is not None or args.installations
    if not given:
        return None
    if args.app_id is None or args.app_public_key is None or not args.installations:
        raise ValueError("--app-id, --app-public-key and --installation go together")
    try:
        with open(args.app_public_key, "rb") as handle:
            pem = handle.read()
    except OSError as exc:
        raise ValueError(f"cannot read {args.app_public_key}: {exc.strerror}") from None
    try:
        return AppSpec(
            app_id=args.app_id,
            public_key_pem=pem,
            installations=tuple(args.installations),
            installation_limit=args.installation_limit,
            token_ttl=args.token_ttl,
        )
    except ValueError as exc:
        message = str(exc)
        if "two installations" in message or "RSA" in message or "TTL" in message:
            raise
        raise ValueError(f"{args.app_public_key} is not a PEM public key") from None


def run(args: argparse.Namespace) -> int:
    repos = args.repos or [RepoSpec.parse(r) for r in DEFAULT_REPOS]
    config = SimConfig(
        repos=repos,
        seed=args.seed,
        limit=args.limit,
        window_seconds=args.window_seconds,
        faults=args.faults,
        latency_ms=args.latency_ms,
    )
    try:
        config.app = _app(args)
    except ValueError as exc:
        print(f"backfill-console: error: {exc}", file=sys.stderr)
        return 2
    sim = Simulator(apply_profile(config, args.profile, args.time_scale))
    # Threads waiting for the interpreter get it within 1 ms instead of 5 ms: a request read
    # while another answer is built is stamped and timed closer to its real arrival (each
    # 5 ms wait is 0.1 s of GitHub's time at --time-scale 20).
    sys.setswitchinterval(0.001)
    try:
        server = make_server(sim, args.host, args.port)
    except OSError as exc:
        print(f"backfill-console: error: cannot listen on {args.host}:{args.port}: {exc.strerror}",
              file=sys.stderr)  # fmt: skip
        return 1
    stop = threading.Event()

    def _terminate(signum: int, frame: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = signal.signal(signal.SIGTERM, _terminate)
    print(f"listening on {base_url(server)}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    return 0
