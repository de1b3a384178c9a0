#!/usr/bin/env python3
# Copyright: (c) 2025, privatepypi developers
# SPDX-License-Identifier: Apache-2.0
"""Request (or delete) a public, DNS-validated ACM certificate and print the validation record.

community.aws.acm_certificate only imports certificates and roles inside a collection cannot
carry modules, so the aws_stack role runs this helper on the controller with boto3 (the usual
AWS credential chain; AWS_ENDPOINT_URL_ACM / --endpoint-url for the emulator).
Output: one JSON object {changed, certificate_arn, status, validation_records: [{name, type, value}]}.
Idempotent: a certificate for the domain that carries the tag Name=<name-tag> is reused.
"""
import argparse
import hashlib
import json
import sys
import time

import boto3
import botocore.exceptions

STATUSES = ["PENDING_VALIDATION", "ISSUED", "INACTIVE", "EXPIRED", "VALIDATION_TIMED_OUT", "FAILED"]


def find_certificate(client, domain_name, name_tag):
    for page in client.get_paginator("list_certificates").paginate(CertificateStatuses=STATUSES):
        for summary in page.get("CertificateSummaryList", []):
            if domain_name and summary.get("DomainName") != domain_name:
                continue
            tags = client.list_tags_for_certificate(CertificateArn=summary["CertificateArn"]).get("Tags", [])
            if {"Key": "Name", "Value": name_tag} in tags:
                return summary["CertificateArn"]
    return None


def describe_with_records(client, arn, timeout):
    """ACM fills in the validation record a few seconds after the request."""
    deadline = time.time() + timeout
    while True:
        cert = client.describe_certificate(CertificateArn=arn)["Certificate"]
        records = [o.get("ResourceRecord") for o in cert.get("DomainValidationOptions", [])]
        if records and all(records):
            return cert, records
        if time.time() > deadline:
            raise SystemExit(f"ACM gave no DNS validation record for {arn} within {timeout}s")
        time.sleep(5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name-tag", required=True)
    parser.add_argument("--domain-name")
    parser.add_argument("--tags", default="{}", help="JSON object of further tags")
    parser.add_argument("--state", choices=["present", "absent"], default="present")
    parser.add_argument("--wait-issued", action="store_true")
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--region", required=True)
    parser.add_argument("--endpoint-url")
    parser.add_argument("--profile")
    args = parser.parse_args()

    session = boto3.session.Session(profile_name=args.profile or None, region_name=args.region)
    client = session.client("acm", endpoint_url=args.endpoint_url or None)
    result = {"changed": False, "certificate_arn": "", "status": "", "validation_records": []}
    try:
        arn = find_certificate(client, args.domain_name, args.name_tag)
        if args.state == "absent":
            if arn:
                client.delete_certificate(CertificateArn=arn)
                result.update(changed=True, certificate_arn=arn)
            print(json.dumps(result))
            return 0
        if not args.domain_name:
            raise SystemExit("--domain-name is required with --state present")
        if not arn:
            tags = dict(json.loads(args.tags), Name=args.name_tag)
            token = hashlib.sha256(f"{args.name_tag}/{args.domain_name}".encode()).hexdigest()[:32]
            arn = client.request_certificate(
                DomainName=args.domain_name,
                ValidationMethod="DNS",
                IdempotencyToken=token,
                Options={"CertificateTransparencyLoggingPreference": "ENABLED"},
                Tags=[{"Key": k, "Value": str(v)} for k, v in sorted(tags.items())],
            )["CertificateArn"]
            result["changed"] = True
        cert, records = describe_with_records(client, arn, args.timeout)
        if args.wait_issued:
            deadline = time.time() + args.timeout
            while cert["Status"] == "PENDING_VALIDATION" and time.time() < deadline:
                time.sleep(10)
                cert = client.describe_certificate(CertificateArn=arn)["Certificate"]
            if cert["Status"] != "ISSUED":
                raise SystemExit(f"certificate {arn} is {cert['Status']}, not ISSUED: is the validation "
                                 "record published in the domain's authoritative DNS?")
        result.update(certificate_arn=arn, status=cert["Status"],
                      validation_records=[{"name": r["Name"], "type": r["Type"], "value": r["Value"]} for r in records])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise SystemExit(f"ACM request failed: {e}") from e
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
