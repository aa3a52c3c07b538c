"""Offline verification of an audit export: ``python -m audit verify``.

Exit status: 0 when the export verifies, 1 when it does not (the first bad seq
and the problem code are printed), 2 for usage errors or unreadable files.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.checkpoint import Checkpoint, key_id_for, load_public_key
from audit.export import read_export_header_keys, verify_export
from audit.verify import VerifyReport
from audit.witness import read_checkpoints


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m audit",
        description="Verify a creditgate audit export offline.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify",
        help="verify an export file (JSON Lines)",
        description="Recompute every leaf and root of an export, check every "
        "checkpoint signature, and report the first problem.",
    )
    verify.add_argument("export", type=Path, help="the export file (JSON Lines)")
    verify.add_argument(
        "--public-key",
        action="append",
        type=Path,
        default=[],
        metavar="KEY",
        help="file holding the trusted checkpoint public key, as PEM or as base64 "
        "of the raw 32 bytes; repeat for several keys",
    )
    verify.add_argument(
        "--trust-export-keys",
        action="store_true",
        help="use the keys written in the export header instead; this only shows "
        "that the file is self-consistent, since a forger can replace those keys",
    )
    verify.add_argument(
        "--checkpoint",
        action="append",
        type=Path,
        default=[],
        metavar="FILE_OR_DIR",
        help="a checkpoint saved earlier (a JSON file, or a witness directory of them); "
        "the export must hold the tree each one signed; repeat for several",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _load_keys(paths: Sequence[Path]) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        key = load_public_key(path.read_bytes())
        keys[key_id_for(key)] = key
    return keys


def _saved_checkpoints(paths: Sequence[Path]) -> list[Checkpoint]:
    return [cp for path in paths for cp in read_checkpoints(path)]


def _progress_printer() -> Callable[[int], None] | None:
    if not sys.stderr.isatty():
        return None
    done = 0

    def show(n: int) -> None:
        nonlocal done
        done += n
        print(f"\rverified {done:,} entries", end="", file=sys.stderr, flush=True)

    return show


def _print_report(report: VerifyReport, trusted: bool) -> None:
    status = "OK" if report.ok else "FAILED"
    print(f"audit export verification: {status}")
    if not trusted:
        print("  WARNING: checked against the keys in the export itself, not a trusted key")
    if not report.ok:
        bad = "-" if report.first_bad_seq is None else str(report.first_bad_seq)
        print(f"  problem:             {report.problem}")
        print(f"  first bad seq:       {bad}")
        print(f"  detail:              {report.detail}")
    print(f"  entries checked:     {report.entries_checked}")
    print(f"  checkpoints checked: {report.checkpoints_checked}")
    print(f"  tree size:           {report.tree_size}")
    print(f"  root hash (base64):  {base64.b64encode(report.root_hash).decode('ascii')}")
    print(
        f"  uncovered entries:   {report.uncovered_entries}"
        " (after the last checkpoint; no signature protects them yet)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.public_key and not args.trust_export_keys:
        parser.error("give --public-key KEY (or, knowingly, --trust-export-keys)")
    try:
        trusted = _load_keys(args.public_key) if args.public_key else None
        saved = _saved_checkpoints(args.checkpoint)
        with args.export.open(encoding="utf-8") as fp:
            if trusted is None:
                # Reject an unreadable header before the full pass.
                read_export_header_keys(fp)
                fp.seek(0)
            report = verify_export(fp, trusted, _progress_printer(), saved)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if args.json:
        result = report.to_json()
        result["trusted_keys"] = trusted is not None
        print(json.dumps(result, indent=2))
    else:
        _print_report(report, trusted is not None)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
