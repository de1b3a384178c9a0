#!/usr/bin/env python3
"""A stand-in for the EC2 instance metadata service (IMDSv2 only).

Containers that stand in for instances share one user data, hence one metadata
address; the caller's IP address tells which instance is asking (a JSON file maps
IP addresses to instance ids, re-read on every request). Every read needs a
session token from PUT /latest/api/token, as with http_tokens=required.

With --emulator-url, the instance's role credentials are what EC2 hands a real
instance: the role of the instance profile named by the launch template the
instance was launched from (its aws:ec2launchtemplate:id/version tags), assumed
through the emulator's STS with the instance id as session name, and renewed
five minutes before they expire, as IMDS does. The emulator enforces IAM for
such role sessions (tests/support/emulator_iam.py), so every call the instance
makes is allowed by the role's own policy documents or refused. Without it,
fixed dummy credentials (the emulator then enforces nothing).
Usage: python -m tests.support.imds_standin --listen 172.28.0.1 --port 5001 --instances map.json \
           [--emulator-url http://172.28.0.1:5000]
"""

import argparse
import datetime
import http.server
import json
import secrets
import threading

# renewed this long before they expire (EC2 makes new credentials available at least five minutes before)
RENEW_BEFORE = datetime.timedelta(minutes=5)
DUMMY = {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "testing", "SecretAccessKey": "testing",
         "Token": "testing", "Expiration": "2099-01-01T00:00:00Z", "LastUpdated": "2026-01-01T00:00:00Z"}


def _utc(value):
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _iso(value):
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


class RoleCredentials:
    """The instance profile role's credentials per instance, from the emulator (deployer's view)."""

    def __init__(self, emulator_url, region, seconds=3600, clock=None):
        import boto3
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name=region)
        self.ec2, self.iam, self.sts = (session.client(s, endpoint_url=emulator_url) for s in ("ec2", "iam", "sts"))
        self.seconds, self.cache, self.lock = seconds, {}, threading.Lock()
        self.clock = clock or (lambda: datetime.datetime.now(datetime.UTC))

    def profile(self, instance_id):
        """(instance profile ARN, role ARN) of the launch template the instance came from."""
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        instance = reservations[0]["Instances"][0]
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        named = instance.get("IamInstanceProfile") or {}
        if not named and "aws:ec2launchtemplate:id" in tags:
            version = self.ec2.describe_launch_template_versions(
                LaunchTemplateId=tags["aws:ec2launchtemplate:id"],
                Versions=[tags.get("aws:ec2launchtemplate:version", "$Latest")])["LaunchTemplateVersions"][0]
            named = version["LaunchTemplateData"].get("IamInstanceProfile") or {}
        name = named.get("Name") or (named.get("Arn") or "").rsplit("/", 1)[-1]
        if not name:
            return None, None
        profile = self.iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        roles = profile["Roles"]
        return profile["Arn"], (roles[0]["Arn"] if roles else None)

    def get(self, instance_id):
        """(role name, profile ARN, credentials document) or None when the instance has no role."""
        with self.lock:
            cached = self.cache.get(instance_id)
            if cached and _utc(cached[2]["Expiration"]) - RENEW_BEFORE > self.clock():
                return cached
            profile_arn, role_arn = self.profile(instance_id)
            if not role_arn:
                return None
            issued = self.sts.assume_role(RoleArn=role_arn, RoleSessionName=instance_id,
                                          DurationSeconds=self.seconds)["Credentials"]
            document = {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": issued["AccessKeyId"],
                        "SecretAccessKey": issued["SecretAccessKey"], "Token": issued["SessionToken"],
                        "Expiration": _iso(issued["Expiration"]), "LastUpdated": _iso(self.clock())}
            self.cache[instance_id] = (role_arn.rsplit("/", 1)[-1], profile_arn, document)
            return self.cache[instance_id]


def make_handler(instances_file, region, role, credentials=None):
    token = secrets.token_urlsafe(24)

    def paths(instance_id):
        answers = {
            "/latest/meta-data/instance-id": instance_id,
            "/latest/meta-data/placement/region": region,
            "/latest/dynamic/instance-identity/document": json.dumps(
                {"instanceId": instance_id, "region": region, "accountId": "123456789012"}),
        }
        if credentials is None:
            found = (role, None, DUMMY)
        else:
            found = credentials.get(instance_id)
        if found:  # an instance without an instance profile has no security-credentials at all
            name, profile_arn, document = found
            answers["/latest/meta-data/iam/security-credentials/"] = name
            answers["/latest/meta-data/iam/security-credentials/" + name] = json.dumps(document)
            if profile_arn:
                answers["/latest/meta-data/iam/info"] = json.dumps(
                    {"Code": "Success", "LastUpdated": document["LastUpdated"], "InstanceProfileArn": profile_arn})
        return answers

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, status, body=b""):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self):  # noqa: N802 (http.server's naming)
            if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                self._send(200, token.encode())
            else:
                self._send(400)

        def do_GET(self):  # noqa: N802
            if self.headers.get("X-aws-ec2-metadata-token") != token:
                self._send(401)  # IMDSv1 is off
                return
            with open(instances_file, encoding="utf-8") as f:
                instance_id = json.load(f).get(self.client_address[0])
            answers = paths(instance_id) if instance_id else {}
            if self.path in answers:
                self._send(200, answers[self.path].encode())
            else:
                self._send(404)

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--instances", required=True, help="JSON file: {caller IP: instance id}")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--role", default="instance-role", help="role name with the dummy credentials")
    parser.add_argument("--emulator-url", help="hand out the instance profile role's credentials from this emulator")
    parser.add_argument("--credential-seconds", type=int, default=3600, help="lifetime of the role credentials")
    args = parser.parse_args()
    credentials = RoleCredentials(args.emulator_url, args.region, args.credential_seconds) if args.emulator_url else None
    server = http.server.ThreadingHTTPServer((args.listen, args.port),
                                             make_handler(args.instances, args.region, args.role, credentials))
    server.serve_forever()


if __name__ == "__main__":
    main()
