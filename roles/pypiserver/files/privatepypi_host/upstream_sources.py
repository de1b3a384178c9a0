"""Installs the upstream's block list (an S3 object) and credentials (an SSM SecureString) on an instance (boot and timer).

Standard library only: the requests are signed by fetch_bundle's SigV4 client with the instance role's
credentials from IMDSv2, and retried by its back-off, so a boot does not depend on a library in the venv.

  upstream_sources.py --region R [--block-list-s3 s3://BUCKET/KEY --block-list-path PATH]
                      [--credentials-parameter NAME --credentials-path PATH --owner USER]

Each file is replaced atomically and only when its content changed; the upstream service reads both
again when they change (privatepypi_host.upstream), so a new list or password needs no restart.
Refused data (a block list that is not OSV JSON, credentials that are not one user:password line)
leaves the last good file in place, logs why and exits 3, so the unit fails visibly until it is fixed.
"""

import argparse
import json
import pwd
import re
import sys
import urllib.parse

from privatepypi_host import fetch_bundle, install

EXIT_REFUSED = 3  # as htpasswd_refresh: a refusal is not retried, a network error (1) is
# the upstream service reads at most this much of a block list file
MAX_BLOCK_LIST_BYTES = 16 << 20
S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/([^\s]{1,1024})$")


class Refused(Exception):
    """The object or parameter holds something the upstream service must not read."""


def check_block_list(data):
    """OSV advisories: one JSON object or a list of them."""
    try:
        document = json.loads(data)
    except ValueError as error:
        raise Refused(f"the block list is not JSON: {error}") from None
    advisories = document if isinstance(document, list) else [document]
    if not all(isinstance(advisory, dict) for advisory in advisories):
        raise Refused("the block list is neither an OSV advisory (a JSON object) nor a list of them")
    return len(advisories)


def check_credentials(value):
    """One line user:password, the user without ':' (Basic authentication cannot carry it)."""
    line = value.strip("\n")
    user, colon, password = line.partition(":")
    if "\n" in line or not colon or not user or not password:
        raise Refused("the upstream credentials must be one line user:password")
    return line + "\n"


def get_block_list(uri, region, endpoint_url, imds):
    bucket, key = S3_URI.match(uri).groups()
    url = fetch_bundle.service_url("s3", region, endpoint_url, bucket) + "/" + urllib.parse.quote(key, safe="/-_.~")
    return fetch_bundle.call("GET", url, region, "s3", fetch_bundle.instance_credentials(imds), limit=MAX_BLOCK_LIST_BYTES)


def get_parameter(name, region, endpoint_url, imds):
    """SSM GetParameter with decryption (JSON protocol), as the instance role."""
    body = json.dumps({"Name": name, "WithDecryption": True}).encode()
    url = fetch_bundle.service_url("ssm", region, endpoint_url) + "/"
    answer = fetch_bundle.call("POST", url, region, "ssm", fetch_bundle.instance_credentials(imds), body,
                               {"content-type": "application/x-amz-json-1.1", "x-amz-target": "AmazonSSM.GetParameter"},
                               limit=64 << 10)
    return json.loads(answer)["Parameter"]["Value"]


def s3_uri(value):
    if not S3_URI.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not s3://bucket/key")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", required=True)
    parser.add_argument("--endpoint-url", type=fetch_bundle.http_endpoint, default=None)
    parser.add_argument("--imds", type=fetch_bundle.http_endpoint, default=fetch_bundle.IMDS)
    parser.add_argument("--block-list-s3", type=s3_uri, default=None)
    parser.add_argument("--block-list-path", default="")
    parser.add_argument("--credentials-parameter", default="")
    parser.add_argument("--credentials-path", default="")
    parser.add_argument("--owner", default="", help="the user the upstream service runs as (owns the credentials)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds of retries before giving up")
    args = parser.parse_args(argv)
    if bool(args.block_list_s3) != bool(args.block_list_path) or bool(args.credentials_parameter) != bool(args.credentials_path):
        parser.error("--block-list-s3 goes with --block-list-path, --credentials-parameter with --credentials-path")

    try:
        refused = fetch(args)
    except (OSError, ValueError, KeyError) as error:  # the network, AWS's refusal (HTTPError), an odd answer
        fetch_bundle.log(f"upstream sources: {error}; the last good files stay installed")
        return 1
    for reason in refused:
        fetch_bundle.log(f"refused, the last good file stays installed: {reason}")
    return EXIT_REFUSED if refused else 0


def fetch(args):
    """Installs what changed; the reasons of what was refused."""
    refused = []
    if args.block_list_s3:
        data = fetch_bundle.retry(lambda: get_block_list(args.block_list_s3, args.region, args.endpoint_url, args.imds),
                                  f"fetching {args.block_list_s3}", args.timeout)
        try:
            count = check_block_list(data)
            if install(args.block_list_path, data, 0o644):
                fetch_bundle.log(f"upstream block list updated from {args.block_list_s3}: {count} advisories")
        except Refused as error:
            refused.append(f"{args.block_list_s3}: {error}")
    if args.credentials_parameter:
        value = fetch_bundle.retry(lambda: get_parameter(args.credentials_parameter, args.region, args.endpoint_url, args.imds),
                                   f"reading {args.credentials_parameter}", args.timeout)
        try:
            owner = pwd.getpwnam(args.owner) if args.owner else None
            if install(args.credentials_path, check_credentials(value).encode(), 0o400, owner):
                fetch_bundle.log(f"upstream credentials updated from {args.credentials_parameter}")
        except Refused as error:
            refused.append(f"{args.credentials_parameter}: {error}")
    return refused


if __name__ == "__main__":
    sys.exit(main())
