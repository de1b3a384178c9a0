"""Associates the stack's Elastic IP with this instance at boot (identity from IMDSv2)."""

import argparse
import json
import sys
import time
import urllib.request

import boto3


def http_endpoint(value):
    """The metadata service is reached over http(s) only (never file: or another scheme)."""
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


def metadata(endpoint, path, token):
    request = urllib.request.Request(endpoint + "/latest/" + path, headers={"X-aws-ec2-metadata-token": token})  # noqa: S310 - checked by http_endpoint
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.read().decode()


def imds_token(endpoint):
    request = urllib.request.Request(endpoint + "/latest/api/token", method="PUT",  # noqa: S310 - checked by http_endpoint
                                     headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.read().decode()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocation-id", required=True)
    parser.add_argument("--imds", type=http_endpoint, default="http://169.254.169.254")
    parser.add_argument("--endpoint-url", default=None)
    args = parser.parse_args(argv)

    token = imds_token(args.imds)
    identity = json.loads(metadata(args.imds, "dynamic/instance-identity/document", token))
    ec2 = boto3.client("ec2", region_name=identity["region"], endpoint_url=args.endpoint_url or None)
    for attempt in range(1, 11):
        try:
            ec2.associate_address(AllocationId=args.allocation_id, InstanceId=identity["instanceId"],
                                  AllowReassociation=True)
            print("Elastic IP {} associated with {}".format(args.allocation_id, identity["instanceId"]))
            return 0
        except ec2.exceptions.ClientError as error:
            print(f"attempt {attempt}: {error}", file=sys.stderr)
            time.sleep(min(2 ** attempt, 30))
    return 1


if __name__ == "__main__":
    sys.exit(main())
