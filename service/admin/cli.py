"""``creditgate institutions|providers|accounts|guardianships|clients``: registration
from the command line, for whoever runs the service (audited as ``operator/cli``).

Credentials are printed once, as JSON on stdout. Passwords, ID numbers, names
and a subject's mobile, address and bank card are read from a hidden prompt (or
stdin), never from the command line, so they do not end up in shell history or
process listings.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from service.identity.policy import PASSWORD_MIN_LENGTH

_AUTH_METHODS = click.Choice(["client_secret_basic", "private_key_jwt"])


@contextmanager
def _running_services() -> Iterator[Any]:
    from service.cli.context import cli_services, cli_settings

    svc = cli_services(cli_settings())
    svc.start()
    try:
        yield svc
    finally:
        svc.close()


def _call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a registry function as the CLI operator; refusals become clean errors."""
    from service.admin.registry import Actor, AdminError

    with _running_services() as svc:
        try:
            return fn(svc, actor=Actor.cli(), **kwargs)
        except AdminError as exc:
            raise click.ClickException(f"{exc.code}: {exc.detail or ''}".rstrip(": ")) from None


def _read_jwk(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise click.ClickException(f"{path} is not a readable JSON file") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{path} must hold one JWK (a JSON object)")
    return data


def _emit(view: dict[str, Any]) -> None:
    click.echo(json.dumps(view, ensure_ascii=False, indent=2))
    client = view.get("client", view)
    if isinstance(client, dict) and client.get("client_secret"):
        click.echo("Store the client secret now: it is not stored in clear and will not be shown again.", err=True)


def _credential_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--jwk-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                      help="The client's public JWK (Ed25519 or P-256), for private_key_jwt.")(fn)
    return click.option("--auth-method", type=_AUTH_METHODS, default="client_secret_basic", show_default=True,
                        help="How the client authenticates at the token endpoint.")(fn)


# --- institutions -------------------------------------------------------------------------------


@click.group()
def institutions() -> None:
    """Querying institutions (查询机构)."""


@institutions.command("add")
@click.option("--name", required=True)
@click.option("--uscc", required=True, help="Unified social credit code (GB 32100).")
@click.option("--type", "institution_type", required=True, help="bank, consumer_finance, microloan, ...")
@click.option("--purpose", "purposes", multiple=True, required=True, help="A permitted purpose; repeat for more.")
@click.option("--contact", default=None, help="Public contact details shown to people before they grant.")
@_credential_options
def institutions_add(name: str, uscc: str, institution_type: str, purposes: tuple[str, ...], auth_method: str,
                     jwk_file: Path | None, contact: str | None) -> None:
    """Register an institution and print its client credentials (once)."""
    from service.admin.registry import register_institution
    from service.admin.routes import institution_view

    done = _call(register_institution, name=name, uscc=uscc, institution_type=institution_type,
                 permitted_purposes=purposes, auth_method=auth_method, jwk=_read_jwk(jwk_file), contact=contact)
    _emit(institution_view(done.record, done.credentials))


def _status_command(group: click.Group, verb: str, status: str, setter: str, kind: str) -> None:
    article = "an" if kind[0] in "aeiou" else "a"

    @group.command(verb, help=f"{verb.capitalize()} {article} {kind} (takes effect for its next request).")
    @click.argument("object_id")
    def command(object_id: str) -> None:
        from service.admin import registry, routes

        fn = getattr(registry, setter)
        view = getattr(routes, f"{kind}_view")
        _emit(view(_call(fn, **{f"{kind}_id": object_id, "status": status})))


_status_command(institutions, "suspend", "suspended", "set_institution_status", "institution")
_status_command(institutions, "reactivate", "active", "set_institution_status", "institution")


# --- providers ----------------------------------------------------------------------------------


@click.group()
def providers() -> None:
    """Record providers / deciding departments (信源单位 / 认定部门)."""


@providers.command("add")
@click.option("--name", required=True)
@click.option("--uscc", required=True, help="Unified social credit code (GB 32100).")
@click.option("--type", "provider_type", required=True, help="court, tax, market_regulation, ...")
@click.option("--level", default=None, help="national, provincial, prefectural, county or township.")
@_credential_options
def providers_add(name: str, uscc: str, provider_type: str, auth_method: str, jwk_file: Path | None,
                  level: str | None) -> None:
    """Register a provider and print its client credentials (once)."""
    from service.admin.registry import register_provider
    from service.admin.routes import provider_view

    done = _call(register_provider, name=name, uscc=uscc, provider_type=provider_type, auth_method=auth_method,
                 jwk=_read_jwk(jwk_file), level=level)
    _emit(provider_view(done.record, done.credentials))


_status_command(providers, "suspend", "suspended", "set_provider_status", "provider")
_status_command(providers, "reactivate", "active", "set_provider_status", "provider")


# --- accounts -----------------------------------------------------------------------------------


@click.group()
def accounts() -> None:
    """People's accounts: subjects, guardians, auditors, operators."""


_PERSON_FIELDS = ("id_number", "name", "mobile", "address", "bank_card")


def _stdin_line(what: str) -> str:
    line = sys.stdin.readline()
    if not line:
        raise click.UsageError(f"standard input ended before the {what}")
    return line.rstrip("\r\n")


def _ask(label: str, *, confirm: bool = False, optional: bool = False) -> str | None:
    """A secret or personal value: a hidden prompt on a terminal, else the next line of
    standard input (so piped input neither echoes nor warns). Empty optional answers are None."""
    if sys.stdin.isatty():
        value: str = click.prompt(label, hide_input=True, confirmation_prompt=confirm,
                                  default="" if optional else None, show_default=False)
    else:
        value = _stdin_line(label)
        if confirm and _stdin_line(f"{label} (again)") != value:
            raise click.UsageError("the two entries do not match")
    return value if value.strip() or not optional else None


def _read_person_file(path: Path, with_contact: bool) -> dict[str, str | None]:
    """The person's fields from a JSON object: id_number and name, and with --with-contact
    optionally mobile, address and bank_card. Values never go on the command line,
    where other users of the machine could read them."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise click.ClickException(f"{path} is not a readable JSON file") from None
    allowed = _PERSON_FIELDS if with_contact else _PERSON_FIELDS[:2]
    if not isinstance(data, dict) or set(data) - set(allowed):
        raise click.ClickException(f"{path} must be a JSON object with only: {', '.join(allowed)}")
    if not all(isinstance(data.get(k), str) for k in ("id_number", "name")):
        raise click.ClickException(f"{path} must give id_number and name as strings")
    for key in allowed[2:]:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise click.ClickException(f"{path}: {key} must be a string or null")
    return {key: (data.get(key) or None) for key in allowed}


@accounts.command("add")
@click.option("--username", required=True, help="Login handle: a-z 0-9 . _ - (not a name or number).")
@click.option("--role", type=click.Choice(["subject", "guardian", "auditor", "operator"]), required=True)
@click.option("--with-contact", is_flag=True,
              help="Subject only: also ask for the person's mobile, address and bank card (each may be left "
                   "empty). Stored only for a person not registered yet.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (no prompt, no confirmation).")
@click.option("--person-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Subject only: a JSON file with id_number and name (and with --with-contact mobile, "
                   "address, bank_card) instead of prompts.")
def accounts_add(username: str, role: str, with_contact: bool, password_stdin: bool,
                 person_file: Path | None) -> None:
    """Register an account. The password and, for a subject, the ID number and name (and
    with --with-contact the mobile, address and bank card) are asked for on hidden
    prompts, or read one per line from piped input in that order. For scripts:
    --password-stdin and --person-file."""
    from service.admin.registry import register_account
    from service.admin.routes import account_view

    if with_contact and role != "subject":
        raise click.UsageError("--with-contact is only for subject accounts")
    if person_file is not None and role != "subject":
        raise click.UsageError("--person-file is only for subject accounts")
    if password_stdin:
        password: str | None = _stdin_line("password")
    else:
        password = _ask(f"Password (at least {PASSWORD_MIN_LENGTH} characters)", confirm=True)
    person: dict[str, str | None] = {}
    if person_file is not None:
        person = _read_person_file(person_file, with_contact)
    elif role == "subject":
        person = {"id_number": _ask("The person's resident ID number"), "name": _ask("The person's name")}
        if with_contact:
            for field, label in (("mobile", "mobile number"), ("address", "address"), ("bank_card", "bank card")):
                person[field] = _ask(f"The person's {label} (empty: none)", optional=True)
    account = _call(register_account, username=username, password=password, role=role,
                    **{"id_number": None, "name": None, **person})
    _emit(account_view(account))


_status_command(accounts, "disable", "disabled", "set_account_status", "account")
_status_command(accounts, "enable", "active", "set_account_status", "account")


# --- guardianships ------------------------------------------------------------------------------


@click.group()
def guardianships() -> None:
    """Guardians acting for minors (监护人)."""


@guardianships.command("add")
@click.option("--guardian", "guardian_account_id", required=True, help="The guardian's account id.")
@click.option("--register-ward", is_flag=True, help="Register the ward if unknown (asks for their name).")
def guardianships_add(guardian_account_id: str, register_ward: bool) -> None:
    """Link a guardian account to a minor; the ward's ID number is asked for on a hidden prompt."""
    from service.admin.registry import register_guardianship
    from service.admin.routes import guardianship_view

    ward_id_number = _ask("The ward's resident ID number")
    ward_name = _ask("The ward's name") if register_ward else None
    link = _call(register_guardianship, guardian_account_id=guardian_account_id, ward_id_number=ward_id_number,
                 ward_name=ward_name)
    _emit(guardianship_view(link))


@guardianships.command("end")
@click.argument("guardianship_id")
def guardianships_end(guardianship_id: str) -> None:
    """End a guardianship now."""
    from service.admin.registry import end_guardianship
    from service.admin.routes import guardianship_view

    _emit(guardianship_view(_call(end_guardianship, guardianship_id=guardianship_id)))


# --- clients ------------------------------------------------------------------------------------


@click.group()
def clients() -> None:
    """OAuth clients: credential rotation and auditors' tools."""


@clients.command("add")
@click.option("--owner-type", type=click.Choice(["institution", "provider", "auditor_tool"]), required=True)
@click.option("--owner-id", required=True, help="Institution id, provider id, or the auditor's account id.")
@_credential_options
def clients_add(owner_type: str, owner_id: str, auth_method: str, jwk_file: Path | None) -> None:
    """Issue another client and print its credentials (once)."""
    from service.admin.registry import add_client

    creds = _call(add_client, owner_type=owner_type, owner_id=owner_id, auth_method=auth_method,
                  jwk=_read_jwk(jwk_file))
    _emit({**creds.as_dict(), "owner_type": owner_type, "owner_id": owner_id})


@clients.command("revoke")
@click.argument("client_id")
def clients_revoke(client_id: str) -> None:
    """Revoke a client; its tokens stop working at once."""
    from service.admin.registry import revoke_client
    from service.admin.routes import client_view

    _emit(client_view(_call(revoke_client, client_id=client_id)))


COMMAND_GROUPS = (institutions, providers, accounts, guardianships, clients)
