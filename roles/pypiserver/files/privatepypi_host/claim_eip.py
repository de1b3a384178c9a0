"""Associates the stack's Elastic IP with this instance at boot (identity from IMDSv2), until it holds.

It speaks to EC2 as the boot's bundle fetcher speaks to S3 and Auto Scaling: the metadata,
retry and request-signing code of fetch_bundle.py, with the instance role's credentials.
An association is taken as holding only once EC2 says the address is this instance's and the
instance's own public address (metadata) is the address; a failed or lost one is associated again
until then (or --timeout). The self-check (selfcheck.py) asks verdict() on every check and starts this
program again when the address was lost; an address another instance of the stack took over (a
replacement) is left to it.
"""

import argparse
import json
import sys
import urllib.error
import urllib.parse
from xml.etree import ElementTree

from privatepypi_host.fetch_bundle import IMDS, call, http_endpoint, imds_get, imds_token, instance_credentials, log, retry, service_url

# EC2's query API version (AssociateAddress answers in it)
EC2_API_VERSION = "2016-11-15"


def identity(imds):
    """This instance's identity document: instanceId and region among others."""
    return json.loads(imds_get(imds, "dynamic/instance-identity/document", imds_token(imds)))


def associate(allocation_id, instance_id, region, endpoint_url, imds):
    """AssociateAddress, moving the address from another instance if it is there (a replaced one)."""
    _ec2("AssociateAddress", {"AllocationId": allocation_id, "InstanceId": instance_id, "AllowReassociation": "true"},
         region, endpoint_url, imds)


def _ec2(action, params, region, endpoint_url, imds):
    body = urllib.parse.urlencode(dict({"Action": action, "Version": EC2_API_VERSION}, **params)).encode()
    return call("POST", service_url("ec2", region, endpoint_url) + "/", region, "ec2", instance_credentials(imds), body,
                {"content-type": "application/x-www-form-urlencoded; charset=utf-8"})


def _items(answer, what):
    """The <item> elements of an EC2 query answer, each as {field: text}."""
    try:
        # EC2's own answer to a signed request over TLS; Python's expat refuses entity expansion bombs
        root = ElementTree.fromstring(answer)  # noqa: S314
    except ElementTree.ParseError as error:
        raise ValueError(f"EC2's answer to {what} is not XML: {error}") from error
    return [{child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in item}
            for item in root.iter() if item.tag.rsplit("}", 1)[-1] == "item"]


def describe(allocation_id, region, endpoint_url, imds):
    """The address as EC2 sees it: {publicIp, instanceId, associationId} (the last two '' when it is free)."""
    answer = _ec2("DescribeAddresses", {"AllocationId.1": allocation_id}, region, endpoint_url, imds)
    for fields in _items(answer, "DescribeAddresses"):
        if fields.get("allocationId") == allocation_id:
            return {key: fields.get(key, "") for key in ("publicIp", "instanceId", "associationId")}
    raise ValueError(f"EC2 does not know the Elastic IP {allocation_id}")


def stack_of(instance_id, region, endpoint_url, imds):
    """The Stack tag of an instance ('' without one)."""
    answer = _ec2("DescribeTags", {"Filter.1.Name": "resource-id", "Filter.1.Value.1": instance_id,
                                   "Filter.2.Name": "key", "Filter.2.Value.1": "Stack"}, region, endpoint_url, imds)
    return next((fields.get("value", "") for fields in _items(answer, "DescribeTags")
                 if fields.get("resourceId") == instance_id and fields.get("key") == "Stack"), "")


def public_ipv4(imds):
    """This instance's public IPv4 address as its metadata says it, or '' when it has none (404)."""
    try:
        return imds_get(imds, "meta-data/public-ipv4", imds_token(imds)).strip()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return ""
        raise


def verdict(allocation_id, instance_id, region, endpoint_url, imds):
    """(state, why): 'holds' when the address is this instance's, in EC2's view and in the instance's own
    (metadata; a metadata service that has no public address yet leaves it to EC2's view); 'moved' when
    another instance of this instance's stack holds it (a replacement takes it over at its boot: the one
    on its way out does not take it back); 'lost' otherwise (free, on an instance of
    no or another stack, or the instance's public address is another one)."""
    address = describe(allocation_id, region, endpoint_url, imds)
    holder = address["instanceId"]
    if holder and holder != instance_id:
        ours = stack_of(instance_id, region, endpoint_url, imds)
        if ours and stack_of(holder, region, endpoint_url, imds) == ours:
            return "moved", f"the Elastic IP {address['publicIp']} ({allocation_id}) has moved to {holder}, " \
                            f"an instance of this stack ({ours})"
    if holder != instance_id:
        return "lost", (f"the Elastic IP {address['publicIp']} ({allocation_id}) is associated with "
                        f"{holder or 'no instance'}, not {instance_id}")
    seen = public_ipv4(imds)
    if seen and seen != address["publicIp"]:
        return "lost", f"this instance's public address {seen} (metadata) is not the stack's Elastic IP {address['publicIp']}"
    return "holds", ""


def claim(allocation_id, document, endpoint_url, imds):
    """One attempt: associate, then check that it holds; raises (so that retry() tries again) when it was
    lost. Returns the verdict's message when another instance of the stack took it over meanwhile."""
    associate(allocation_id, document["instanceId"], document["region"], endpoint_url, imds)
    state, why = verdict(allocation_id, document["instanceId"], document["region"], endpoint_url, imds)
    if state == "lost":
        raise ValueError(f"associated, but it does not hold: {why}")
    return why


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocation-id", required=True)
    parser.add_argument("--imds", type=http_endpoint, default=IMDS)
    parser.add_argument("--endpoint-url", type=http_endpoint, default=None)
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds of retries before giving up (the self-check starts this program again)")
    args = parser.parse_args(argv)
    try:
        document = retry(lambda: identity(args.imds), "instance identity", args.timeout)
        moved = retry(lambda: claim(args.allocation_id, document, args.endpoint_url, args.imds),
                      f"associating {args.allocation_id}", args.timeout)
    except (OSError, ValueError, KeyError) as error:
        log(f"could not claim the Elastic IP {args.allocation_id}: {error}")
        return 1
    if moved:
        print(f"Elastic IP {args.allocation_id}: {moved}; leaving it there")
        return 0
    print(f"Elastic IP {args.allocation_id} associated with {document['instanceId']}, and it holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
