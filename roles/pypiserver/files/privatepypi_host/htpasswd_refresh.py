"""Installs the credentials (htpasswd, roles, tokens) from one SSM SecureString if they changed (boot and timer).

The value is checked before anything is installed (privatepypi_host.access): every line parses,
every hash is bcrypt at the configured cost or more (no other scheme). Refused data leaves the last
good files in place, logs one line saying why (to the journal and, as a "credentials_refused" record,
to the audit log, which the CloudWatch agent ships) and exits 3, so the unit fails visibly.
"""

import argparse
import os
import sys

import privatepypi_host
from privatepypi_host import access

EXIT_REFUSED = 3  # not 1: an uncaught error (network) exits 1 and is retried, a refusal is not


def install(path, content, mode=0o640):
    """Writes content (text) atomically; False when the file already holds it."""
    return privatepypi_host.install(path, content.encode("utf-8"), mode)


def apply(bundle, htpasswd_path, roles_path, tokens_path, min_cost):
    """Validates then installs; returns a one-line summary. access.AccessError leaves every file as it was."""
    htpasswd, roles, tokens = access.split_bundle(bundle)
    users, parsed_roles, parsed_tokens = access.validate(htpasswd, roles, tokens, min_cost)
    # tokens and roles first: a new user never meets the old roles file without its line (reader is safe anyway)
    changed = [install(tokens_path, tokens), install(roles_path, roles), install(htpasswd_path, htpasswd)]
    if not any(changed):
        return ""
    return f"credentials updated: {len(users)} users, {len(parsed_roles)} roles, {len(parsed_tokens)} tokens"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parameter", required=True)
    parser.add_argument("--path", required=True, help="the htpasswd file")
    parser.add_argument("--roles", default="", help="default: 'roles' beside the htpasswd")
    parser.add_argument("--tokens", default="", help="default: 'tokens' beside the htpasswd")
    parser.add_argument("--min-cost", type=int, default=12)
    parser.add_argument("--audit-log", default="")
    parser.add_argument("--region", default=None)
    parser.add_argument("--endpoint-url", default=None)
    args = parser.parse_args(argv)
    directory = os.path.dirname(args.path)
    roles = args.roles or os.path.join(directory, "roles")
    tokens = args.tokens or os.path.join(directory, "tokens")

    import boto3  # noqa: PLC0415 - the validation above needs no AWS library

    ssm = boto3.client("ssm", region_name=args.region or None, endpoint_url=args.endpoint_url or None)
    bundle = ssm.get_parameter(Name=args.parameter, WithDecryption=True)["Parameter"]["Value"]
    try:
        summary = apply(bundle, args.path, roles, tokens, args.min_cost)
    except access.AccessError as error:
        print(f"privatepypi credentials refused, the last good ones stay installed: {args.parameter}: {error}",
              file=sys.stderr)
        access.audit(args.audit_log, "credentials_refused", source=args.parameter, reason=str(error))
        return EXIT_REFUSED
    if summary:
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
