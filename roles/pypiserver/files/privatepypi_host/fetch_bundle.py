"""Boot-time AWS client of the host, standard library only.

Debian's AMI has python3 but neither awscli nor boto3, and the venv may not exist yet (or never,
when pip keeps failing): this signs its own requests (Signature Version 4) with the instance
role's credentials from IMDSv2.

  fetch_bundle.py fetch --bucket B --key K --sha256 HEX --region R [--then PROGRAM [ARG...]]
      fetches the host files' bundle from S3 (retrying with back-off), refuses it unless its
      sha256 is the one the user data names, unpacks it under / and runs PROGRAM.
  fetch_bundle.py unhealthy --autoscaling-group G --region R --reason TEXT
      tells the AutoScalingGroup that this instance cannot serve (SetInstanceHealth, not
      respecting the grace period), so the group replaces it.
"""

import argparse
import datetime
import hashlib
import hmac
import io
import json
import os
import pathlib
import random
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request

IMDS = "http://169.254.169.254"
# The bundle holds program files and units, tens of kilobytes: anything far larger is not ours.
MAX_BUNDLE_BYTES = 16 * 1024 * 1024


def log(message):
    print("privatepypi-boot: " + message, file=sys.stderr, flush=True)


def http_endpoint(value):
    """Endpoints are http(s) URLs only (never file: or another scheme urllib would open)."""
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


def retry(action, what, deadline_seconds, sleep=time.sleep, clock=time.monotonic, first_delay=2.0, max_delay=30.0):
    """Calls action() until it returns without an exception or deadline_seconds have passed
    (then the last exception is raised). Back-off doubles from first_delay up to max_delay, with
    jitter so that a fleet started together does not retry in step."""
    deadline = clock() + deadline_seconds
    delay = first_delay
    attempt = 1
    while True:
        try:
            return action()
        except (OSError, ValueError) as error:  # URLError, HTTPError and socket errors are OSErrors
            remaining = deadline - clock()
            if remaining <= 0:
                raise
            # the last pause ends at the deadline, for one last attempt there
            pause = min(min(delay, max_delay) * random.uniform(0.8, 1.0), remaining)  # noqa: S311 - jitter, not a secret
            log(f"{what}: attempt {attempt} failed ({error}); again in {pause:.0f} s")
            sleep(pause)
            delay *= 2
            attempt += 1


# --- instance metadata (IMDSv2) -------------------------------------------------------------

def imds_token(imds):
    request = urllib.request.Request(imds + "/latest/api/token", method="PUT",  # noqa: S310 - http_endpoint
                                     headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.read().decode()


def imds_get(imds, path, token):
    request = urllib.request.Request(imds + "/latest/" + path, headers={"X-aws-ec2-metadata-token": token})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.read().decode()


def instance_credentials(imds):
    """The instance role's temporary credentials: (access key, secret key, session token)."""
    token = imds_token(imds)
    role = imds_get(imds, "meta-data/iam/security-credentials/", token).split()[0]
    document = json.loads(imds_get(imds, "meta-data/iam/security-credentials/" + role, token))
    return document["AccessKeyId"], document["SecretAccessKey"], document.get("Token")


def instance_id(imds):
    return imds_get(imds, "meta-data/instance-id", imds_token(imds)).strip()


# --- Signature Version 4 --------------------------------------------------------------------

def _quote(value, safe="-_.~"):
    return urllib.parse.quote(value, safe=safe)


def sign(method, url, region, service, credentials, body=b"", headers=None, now=None):
    """The headers that make a request with these credentials valid for AWS (SigV4).
    S3 signs the payload's hash too (x-amz-content-sha256)."""
    access_key, secret_key, session_token = credentials
    now = now or datetime.datetime.now(datetime.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    parts = urllib.parse.urlsplit(url)
    payload_hash = hashlib.sha256(body).hexdigest()
    signed = {"host": parts.netloc, "x-amz-date": amz_date}
    if service == "s3":
        signed["x-amz-content-sha256"] = payload_hash
    if session_token:
        signed["x-amz-security-token"] = session_token
    for name, value in (headers or {}).items():
        signed[name.lower()] = value
    names = sorted(signed)
    query = sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    canonical = "\n".join([
        method,
        # S3 signs the path as sent; the other services sign it encoded once more
        (parts.path or "/") if service == "s3" else _quote(parts.path or "/", safe="/-_.~"),
        "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query),
        "".join(f"{name}:{' '.join(str(signed[name]).split())}\n" for name in names),
        ";".join(names),
        payload_hash,
    ])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                               f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return signed


def service_url(service, region, endpoint_url=None, bucket=None):
    """AWS's endpoint of a service in a region, or the override (tests, private endpoints).
    With an override S3 is addressed path-style (bucket in the path)."""
    if endpoint_url:
        return endpoint_url + (f"/{bucket}" if bucket else "")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    if bucket:
        return f"https://{bucket}.s3.{region}.{suffix}"
    return f"https://{service}.{region}.{suffix}"


def call(method, url, region, service, credentials, body=b"", headers=None, limit=MAX_BUNDLE_BYTES):
    headers = dict(headers or {})
    request = urllib.request.Request(url, data=body or None, method=method,  # noqa: S310 - http(s) only
                                     headers=sign(method, url, region, service, credentials, body, headers))
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        data = response.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"answer of {url} is larger than {limit} bytes")
    return data


# --- the bundle -----------------------------------------------------------------------------

def get_bundle(bucket, key, sha256, region, endpoint_url, imds):
    url = service_url("s3", region, endpoint_url, bucket) + "/" + _quote(key, safe="/-_.~")
    data = call("GET", url, region, "s3", instance_credentials(imds))
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        # not retried as transient by retry(): a wrong object stays wrong
        raise BundleRefused(f"s3://{bucket}/{key} has sha256 {digest}, the user data names {sha256}")
    return data


class BundleRefused(Exception):
    """The bundle is not the one the user data names, or holds something other than files."""


def unpack(data, root="/"):
    """Writes the bundle's regular files under root, each replaced atomically (a running service
    never reads half a file), with the member's mode, owned by root. Anything else (links,
    devices, absolute or '..' paths) is refused before the first file is written."""
    root = pathlib.Path(root)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = archive.getmembers()
        for member in members:
            parts = pathlib.PurePosixPath(member.name).parts
            if not member.isfile() or member.name.startswith("/") or ".." in parts or not parts:
                raise BundleRefused(f"bundle member {member.name!r} is not a plain relative file")
        written = []
        for member in members:
            target = root.joinpath(*pathlib.PurePosixPath(member.name).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.bundle-{os.getpid()}")
            with archive.extractfile(member) as source, open(temporary, "wb") as out:
                out.write(source.read())
            os.chmod(temporary, member.mode & 0o7777)
            if os.geteuid() == 0:
                os.chown(temporary, 0, 0)
            os.replace(temporary, target)
            written.append(str(target))
    return written


# --- health ---------------------------------------------------------------------------------

def set_unhealthy(autoscaling_group, region, endpoint_url, imds, reason):
    """Marks this instance Unhealthy in its AutoScalingGroup, which then replaces it. The group
    is named by the user data; the instance policy allows this call on that group only."""
    body = urllib.parse.urlencode({
        "Action": "SetInstanceHealth", "Version": "2011-01-01", "InstanceId": instance_id(imds),
        "HealthStatus": "Unhealthy", "ShouldRespectGracePeriod": "false",
    }).encode()
    url = service_url("autoscaling", region, endpoint_url) + "/"
    log(f"reporting this instance unhealthy to {autoscaling_group}: {reason}")
    call("POST", url, region, "autoscaling", instance_credentials(imds), body,
         {"content-type": "application/x-www-form-urlencoded; charset=utf-8"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("fetch", "unhealthy"):
        command = commands.add_parser(name)
        command.add_argument("--region", required=True)
        command.add_argument("--endpoint-url", type=http_endpoint, default=None)
        command.add_argument("--imds", type=http_endpoint, default=IMDS)
        command.add_argument("--autoscaling-group", default="")
        if name == "fetch":
            command.add_argument("--bucket", required=True)
            command.add_argument("--key", required=True)
            command.add_argument("--sha256", required=True)
            command.add_argument("--root", default="/")
            command.add_argument("--timeout", type=float, default=900, help="seconds of retries before giving up")
            command.add_argument("--then", nargs="+", default=None, help="program and its arguments, run once unpacked")
        else:
            command.add_argument("--reason", default="the instance cannot serve")
            command.add_argument("--timeout", type=float, default=120, help="seconds of retries before giving up")
    args = parser.parse_args(argv)

    if args.command == "unhealthy":
        if not args.autoscaling_group:
            log(f"no AutoScalingGroup to report to: {args.reason}")
            return 1
        try:
            retry(lambda: set_unhealthy(args.autoscaling_group, args.region, args.endpoint_url, args.imds, args.reason),
                  "health report", args.timeout)
        except (OSError, ValueError) as error:
            log(f"could not report: {error}")
            return 1
        return 0

    try:
        data = retry(lambda: get_bundle(args.bucket, args.key, args.sha256, args.region, args.endpoint_url, args.imds),
                     f"fetching s3://{args.bucket}/{args.key}", args.timeout)
        files = unpack(data, args.root)
    except (OSError, ValueError, BundleRefused, tarfile.TarError) as error:
        reason = f"bootstrap bundle: {error}"
        log(reason)
        if args.autoscaling_group:
            try:
                retry(lambda: set_unhealthy(args.autoscaling_group, args.region, args.endpoint_url, args.imds, reason),
                      "health report", 120)
            except (OSError, ValueError) as report_error:
                log(f"could not report: {report_error}")
        return 1
    log(f"bundle {args.sha256[:12]} unpacked: {len(files)} files")
    if args.then:
        os.execv(args.then[0], args.then)  # noqa: S606 - the program the verified bundle just installed
    return 0


if __name__ == "__main__":
    sys.exit(main())
