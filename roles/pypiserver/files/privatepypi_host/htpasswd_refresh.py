"""Installs the htpasswd file from an SSM SecureString if it changed (boot and timer)."""

import argparse
import os
import sys
import tempfile

import boto3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parameter", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--region", default=None)
    parser.add_argument("--endpoint-url", default=None)
    args = parser.parse_args(argv)

    ssm = boto3.client("ssm", region_name=args.region or None, endpoint_url=args.endpoint_url or None)
    content = ssm.get_parameter(Name=args.parameter, WithDecryption=True)["Parameter"]["Value"]
    if not content.endswith("\n"):
        content += "\n"
    try:
        with open(args.path, encoding="utf-8") as f:
            if f.read() == content:
                return 0
    except FileNotFoundError:
        pass
    directory = os.path.dirname(args.path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".htpasswd-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
        os.chmod(tmp, 0o640)
        os.replace(tmp, args.path)
    except BaseException:
        os.unlink(tmp)
        raise
    print("htpasswd updated: {} users".format(sum(1 for line in content.splitlines() if ":" in line)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
