"""Reading user data as cloud-init does: the cloud-config with every write_files entry decoded, and
the bootstrap bundle it names, fetched from S3 and checked against the digest it gives. Whatever a
test says a launch template does not carry (a password, a hash, a key), it looks for in all of
these, not in the encoded text where nothing can be found. Used by the integration tests
(tests/integration/helpers.py) and the boot rehearsal (tests/rehearsal/test_boot.py).
"""
import base64
import gzip
import hashlib
import io
import tarfile

import yaml

BASE64_ENCODINGS = ("b64", "base64", "gz+b64", "gzip+base64", "gz+base64", "gzip+b64")


def decoded_cloud_config(text):
    """The cloud-config text plus the decoded content of every write_files entry."""
    parts = [text]
    for entry in (yaml.safe_load(text) or {}).get("write_files", []):
        content, encoding = entry.get("content", ""), entry.get("encoding", "")
        raw = content.encode()
        if encoding in BASE64_ENCODINGS:
            raw = base64.b64decode(raw)
        if encoding.startswith(("gz", "gzip")):
            raw = gzip.decompress(raw)
        parts.append(raw.decode())
    return "\n".join(parts)


def bundle_of(aws, text):
    """The files of the bootstrap bundle a cloud-config names (fetch_bundle.py's --bucket, --key and
    --sha256 in runcmd), read from S3 through aws(service) and checked against that digest:
    {path: text}; {} when the cloud-config names none."""
    for command in (yaml.safe_load(text) or {}).get("runcmd", []):
        if isinstance(command, list) and "--bucket" in command:
            options = dict(zip(command[3::2], command[4::2], strict=False))
            data = aws("s3").get_object(Bucket=options["--bucket"], Key=options["--key"])["Body"].read()
            assert hashlib.sha256(data).hexdigest() == options["--sha256"], "the bundle is not the one the user data names"
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
                return {"/" + m.name: archive.extractfile(m).read().decode() for m in archive.getmembers()}
    return {}


def everything_an_instance_reads(aws, text):
    """The cloud-config, its decoded files and the bundle's files, as one text."""
    return "\n".join([decoded_cloud_config(text), *bundle_of(aws, text).values()])
