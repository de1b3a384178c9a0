"""Associates the stack's Elastic IP with this instance at boot (identity from IMDSv2).

It speaks to EC2 as the boot's bundle fetcher speaks to S3 and Auto Scaling: the metadata,
retry and request-signing code of fetch_bundle.py, with the instance role's credentials.
"""

import argparse
import json
import sys
import urllib.parse

from privatepypi_host.fetch_bundle import IMDS, call, http_endpoint, imds_get, imds_token, instance_credentials, log, retry, service_url

# EC2's query API version (AssociateAddress answers in it)
EC2_API_VERSION = "2016-11-15"


def identity(imds):
    """This instance's identity document: instanceId and region among others."""
    return json.loads(imds_get(imds, "dynamic/instance-identity/document", imds_token(imds)))


def associate(allocation_id, instance_id, region, endpoint_url, imds):
    """AssociateAddress, moving the address from another instance if it is there (a replaced one)."""
    body = urllib.parse.urlencode({
        "Action": "AssociateAddress", "Version": EC2_API_VERSION, "AllocationId": allocation_id,
        "InstanceId": instance_id, "AllowReassociation": "true",
    }).encode()
    call("POST", service_url("ec2", region, endpoint_url) + "/", region, "ec2", instance_credentials(imds), body,
         {"content-type": "application/x-www-form-urlencoded; charset=utf-8"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocation-id", required=True)
    parser.add_argument("--imds", type=http_endpoint, default=IMDS)
    parser.add_argument("--endpoint-url", type=http_endpoint, default=None)
    parser.add_argument("--timeout", type=float, default=300, help="seconds of retries before giving up")
    args = parser.parse_args(argv)
    try:
        document = retry(lambda: identity(args.imds), "instance identity", args.timeout)
        retry(lambda: associate(args.allocation_id, document["instanceId"], document["region"], args.endpoint_url,
                                args.imds), f"associating {args.allocation_id}", args.timeout)
    except (OSError, ValueError, KeyError) as error:
        log(f"could not claim the Elastic IP {args.allocation_id}: {error}")
        return 1
    print(f"Elastic IP {args.allocation_id} associated with {document['instanceId']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
