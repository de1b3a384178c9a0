#!/usr/bin/env python3
"""A stand-in for the EC2 instance metadata service (IMDSv2 only).

Containers that stand in for instances share one user data, hence one metadata
address; the caller's IP address tells which instance is asking (a JSON file maps
IP addresses to instance ids, re-read on every request). Every read needs a
session token from PUT /latest/api/token, as with http_tokens=required.
Usage: python -m tests.support.imds_standin --listen 172.28.0.1 --port 5001 --instances map.json
"""

import argparse
import http.server
import json
import secrets


def make_handler(instances_file, region, role):
    token = secrets.token_urlsafe(24)
    credentials = {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "testing", "SecretAccessKey": "testing",
                   "Token": "testing", "Expiration": "2099-01-01T00:00:00Z", "LastUpdated": "2026-01-01T00:00:00Z"}

    def paths(instance_id):
        return {
            "/latest/meta-data/instance-id": instance_id,
            "/latest/meta-data/placement/region": region,
            "/latest/dynamic/instance-identity/document": json.dumps(
                {"instanceId": instance_id, "region": region, "accountId": "123456789012"}),
            "/latest/meta-data/iam/security-credentials/": role,
            "/latest/meta-data/iam/security-credentials/" + role: json.dumps(credentials),
        }

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
    parser.add_argument("--role", default="instance-role")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer((args.listen, args.port),
                                             make_handler(args.instances, args.region, args.role))
    server.serve_forever()


if __name__ == "__main__":
    main()
