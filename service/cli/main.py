"""The ``creditgate`` command line."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from service.admin.cli import COMMAND_GROUPS as REGISTRATION_GROUPS
from service.cli.context import cli_services as _services
from service.cli.context import cli_settings as _settings
from service.cli.preflight import OperatorError, ensure_port_free, ensure_schema_current, reachable_engine
from service.crypto.keys import KeyError_, add_file_kek, init_key_file, load_keyring, remove_file_kek


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """creditgate: consent-gated personal public credit information queries."""


# --- serve -------------------------------------------------------------------------------------


def _check_policy_data() -> None:
    from policies import PolicyDataError, load_all_policy_data

    try:
        load_all_policy_data()
    except PolicyDataError as exc:
        raise click.ClickException(f"policy data is invalid, the service will not start: {exc}") from None


@main.command()
@click.option("--host", default=None, help="Address to bind (CREDITGATE_HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (CREDITGATE_PORT, default 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (CREDITGATE_WORKERS, default 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the HTTP API on granian."""
    from granian import Granian
    from granian.constants import Interfaces

    settings = _settings()
    try:
        load_keyring(settings.key_file, settings.master_key, settings.previous_master_keys)
    except KeyError_ as exc:
        raise OperatorError(str(exc)) from None
    _check_policy_data()
    engine = reachable_engine(settings)
    try:
        migrated = ensure_schema_current(settings, engine, embedded_default=settings.embedded_default)
    finally:
        engine.dispose()
    if migrated:
        click.echo(migrated)
    address, bind_port = host or settings.host, port or settings.port
    ensure_port_free(address, bind_port)
    Granian(
        "service.http.app:create_app",
        address=address,
        port=bind_port,
        workers=workers or settings.workers,
        interface=Interfaces.ASGI,
        factory=True,
        log_access=False,
    ).serve()


# --- db ----------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (creates the database on first run)."""
    from service.db.migrate import upgrade

    settings = _settings()
    reachable_engine(settings).dispose()
    # The settings let the upgrade open the keys when it must encrypt stored values.
    upgrade(settings.database_url, revision, settings=settings)
    click.echo(f"database at revision {revision}")


@db.command("current")
def db_current() -> None:
    """Show the database's revision and the newest shipped one."""
    from service.db.migrate import current_revision, head_revision

    settings = _settings()
    engine = reachable_engine(settings)
    click.echo(f"current: {current_revision(engine)}  head: {head_revision(settings.database_url)}")
    engine.dispose()


# --- keys --------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Key material: KEK versions, data-key rewrapping."""


@keys.command("init")
def keys_init() -> None:
    """Create the key file (mode 0600) if it does not exist."""
    settings = _settings()
    created = init_key_file(settings.key_file, with_kek=not settings.master_key)
    click.echo(f"{'created' if created else 'kept existing'} key file {settings.key_file}")


@keys.command("rotate")
@click.option("--rewrap-only", is_flag=True, help="Do not create a KEK; rewrap to the active one.")
def keys_rotate(rewrap_only: bool) -> None:
    """Create a new KEK version and rewrap every data key under it, online."""
    from service.cli.progress import progress_bar
    from service.crypto.rotation import pending_rewrap, rewrap_all

    settings = _settings()
    if not rewrap_only and not settings.master_key:
        new_id = add_file_kek(settings.key_file)
        click.echo(f"new active KEK {new_id}")
    elif settings.master_key and not rewrap_only:
        click.echo("KEKs come from CREDITGATE_MASTER_KEY: rewrapping to it (set the old key in "
                   "CREDITGATE_PREVIOUS_MASTER_KEYS)")
    svc = _services(settings)
    active, _ = svc.keyring.active()
    total = pending_rewrap(svc.engine, active)
    with progress_bar("rewrapping data keys", total) as advance:
        result = rewrap_all(svc.engine, svc.keyring, progress=advance)
    click.echo(f"rewrapped {result.rewrapped} data keys to {result.active_kek}; {result.remaining} remain")
    svc.engine.dispose()
    if result.remaining:
        sys.exit(1)


@keys.command("status")
def keys_status() -> None:
    """Show KEK versions and how many data keys each one wraps."""
    from service.crypto.rotation import key_usage

    svc = _services(_settings())
    usage = key_usage(svc.engine)
    active, _ = svc.keyring.active()
    click.echo(f"KEK source: {svc.keyring.source}")
    for kek_id in sorted(set(svc.keyring.keks) | set(usage)):
        flags = []
        if kek_id == active:
            flags.append("active")
        if kek_id not in svc.keyring.keks:
            flags.append("MISSING")
        click.echo(f"  {kek_id}  data keys: {usage.get(kek_id, 0):>8}  {' '.join(flags)}")
    svc.engine.dispose()


@keys.command("retire")
@click.argument("kek_id")
def keys_retire(kek_id: str) -> None:
    """Remove an old KEK from the key file once no data key uses it."""
    from service.crypto.rotation import key_usage

    settings = _settings()
    svc = _services(settings)
    in_use = key_usage(svc.engine).get(kek_id, 0)
    svc.engine.dispose()
    if in_use:
        raise click.ClickException(f"{kek_id} still wraps {in_use} data keys; run `creditgate keys rotate` first")
    try:
        remove_file_kek(settings.key_file, kek_id)
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"retired {kek_id}")


# --- audit -------------------------------------------------------------------------------------


def _read_public_key(path: Path) -> Ed25519PublicKey:
    from audit import load_public_key

    try:
        return load_public_key(path.read_bytes())
    except ValueError as exc:
        raise click.ClickException(f"{path}: {exc}") from None


@main.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option("--export", "export_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verify an exported JSON Lines file instead of the database.")
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Trusted checkpoint public key (base64 raw or PEM); default: the service's own.")
@click.option("--workers", type=int, default=None, help="Processes for a large log (default: CPU count).")
@click.option("--from-checkpoint", "saved_paths", multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="A checkpoint saved earlier (JSON file) or a directory of them: the log must still hold "
                   "the tree each one signed. Repeatable.")
@click.option("--witness", is_flag=True,
              help="Also check against every copy in the witness directory (CREDITGATE_WITNESS_DIR).")
def audit_verify(export_file: Path | None, public_key: Path | None, workers: int | None,
                 saved_paths: tuple[Path, ...], witness: bool) -> None:
    """Recompute every hash and check every checkpoint signature; exit 1 on the first problem.

    With --from-checkpoint or --witness, checkpoints kept outside the database are
    checked too: a log cut short, rewritten, reordered or forked since they were
    signed fails (checkpoint_beyond_log, checkpoint_root_mismatch)."""
    from audit import key_id_for, read_checkpoints, verify_export
    from service.audit_log.parallel import verify_database_parallel
    from service.audit_log.store import entry_count
    from service.cli.progress import progress_bar

    settings = _settings()
    paths = [*saved_paths, *([settings.witness_directory] if witness else [])]
    try:
        saved = tuple(cp for path in paths for cp in read_checkpoints(path))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read the saved checkpoints: {exc}") from None
    if export_file is not None:
        keys_map = None
        if public_key is not None:
            pk = _read_public_key(public_key)
            keys_map = {key_id_for(pk): pk}
        with export_file.open(encoding="utf-8") as fp, progress_bar("verifying export", None) as advance:
            report = verify_export(fp, keys_map, advance, saved)
    else:
        svc = _services(settings)
        pk = _read_public_key(public_key) if public_key else svc.keyring.signing_key("audit").public_key()
        total = entry_count(svc.engine)
        with progress_bar("verifying audit log", total) as advance:
            report = verify_database_parallel(svc.settings.database_url, {key_id_for(pk): pk}, advance, workers,
                                              saved)
        svc.engine.dispose()
    if saved:
        click.echo(f"{len(saved)} saved checkpoints given (largest tree size {max(cp.tree_size for cp in saved)})")
    _print_report(report)
    if not report.ok:
        sys.exit(1)


def _print_report(report) -> None:  # type: ignore[no-untyped-def]
    if report.ok:
        click.echo(
            f"OK: {report.entries_checked} entries, {report.checkpoints_checked} checkpoints verified; "
            f"tree size {report.tree_size}, root {report.root_hash.hex()}; "
            f"{report.uncovered_entries} entries after the last checkpoint"
        )
    else:
        click.echo(f"FAILED: {report.problem} at seq {report.first_bad_seq}: {report.detail}", err=True)


@audit_group.command("export")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON Lines file to write; the public key goes next to it as OUT.pub.")
def audit_export(out: Path) -> None:
    """Export entries and checkpoints for offline verification with only the public key."""
    from audit import key_id_for
    from service.audit_log.store import entry_count, export_database
    from service.cli.progress import progress_bar

    svc = _services(_settings())
    pk = svc.keyring.signing_key("audit").public_key()
    total = entry_count(svc.engine)
    with out.open("w", encoding="utf-8") as fp, progress_bar("exporting audit log", total) as advance:
        written = export_database(svc.engine, fp, {key_id_for(pk): pk}, advance)
    pub = out.with_name(out.name + ".pub")
    pub.write_text(base64.b64encode(pk.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode() + "\n")
    svc.engine.dispose()
    click.echo(json.dumps({"entries": written, "file": str(out), "public_key": str(pub)}))


# --- consents ----------------------------------------------------------------------------------


@main.group()
def consents() -> None:
    """Consent housekeeping."""


@consents.command("expire")
def consents_expire() -> None:
    """Record the expiry of lapsed requests and consents now (the server does this every minute)."""
    from service.consent.service import ConsentService
    from service.db.types import utcnow

    svc = _services(_settings())
    try:
        requests, done = ConsentService(svc).expire_due(utcnow())
    finally:
        svc.engine.dispose()
    click.echo(f"expired {requests} pending requests; {done} consents expired or exhausted")


# --- demo --------------------------------------------------------------------------------------


@main.command()
@click.option("--subjects", default=300, show_default=True, help="How many people to generate.")
@click.option("--seed", default=2026, show_default=True)
def demo(subjects: int, seed: int) -> None:
    """Load the demo data set (idempotent) and print the demo logins and the bank's client."""
    from service.cli.progress import progress_bar
    from service.demo.load import demo_steps, load_demo

    settings = _settings()
    svc = _services(settings)
    svc.start()
    try:
        with progress_bar("loading demo data", demo_steps(subjects)) as advance:
            summary = load_demo(svc, subjects, seed=seed, progress=advance,
                                credentials_file=settings.data_dir / "demo-credentials.json")
    finally:
        svc.close()
    click.echo(f"demo data: {summary.new_subjects} new subjects, {summary.new_records} new records, "
               f"{summary.new_consent_requests} new consent requests, {summary.new_providers} new providers, "
               f"{summary.new_institutions} new institutions, {summary.new_accounts} new accounts")
    click.echo("records by category: " + ", ".join(f"{k} {v}" for k, v in summary.records_by_category.items()))
    click.echo("consents: " + ", ".join(f"{k} {v}" for k, v in summary.consent_states.items())
               + "; requests: " + ", ".join(f"{k} {v}" for k, v in summary.request_states.items()))
    click.echo(f"logins (password for all: {summary.password}):")
    for login in summary.logins:
        click.echo(f"  {login.username:<15} {login.role:<9} {login.note}")
    creds = summary.bank_credentials
    if creds is not None and creds.client_secret:
        click.echo(f"bank client ({summary.bank_name}, {creds.auth_method}):")
        click.echo(f"  client_id:     {creds.client_id}")
        click.echo(f"  client_secret: {creds.client_secret}")
        click.echo("  token: curl -u \"$CLIENT_ID:$CLIENT_SECRET\" -d grant_type=client_credentials "
                   f"{settings.issuer}/oauth/token")


# --- registration: institutions, providers, accounts, guardianships, clients (service/admin/cli.py)

for _group in REGISTRATION_GROUPS:
    main.add_command(_group)


if __name__ == "__main__":
    main()
