# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/support/cloud_config.py reads user data as cloud-init does: a secret hidden in an encoded
write_files entry or in the bootstrap bundle is found, so the checks built on it can fail."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import hashlib
import io
import tarfile

import pytest
import yaml
from ansible_collections.privatepypi.aws.tests.support import cloud_config
from ansible_collections.privatepypi.aws.tests.support.secrets_shapes import find_hashes

HASH = '$2b$12$' + 'a' * 53
SECRET = 'alice:' + HASH + '\n'


def _cloud_config(write_files, runcmd=()):
    return '#cloud-config\n' + yaml.safe_dump({'write_files': write_files, 'runcmd': list(runcmd)})


@pytest.mark.parametrize('encoding, encode', [
    ('gz+b64', lambda raw: base64.b64encode(gzip.compress(raw)).decode()),
    ('b64', lambda raw: base64.b64encode(raw).decode()),
    ('', lambda raw: raw.decode()),
])
def test_a_hash_in_an_encoded_file_is_found(encoding, encode):
    text = _cloud_config([{'path': '/etc/pypiserver/htpasswd', 'encoding': encoding, 'content': encode(SECRET.encode())}])
    if encoding:
        assert find_hashes(text) == []  # encoded, the text alone hides it
    assert set(find_hashes(cloud_config.decoded_cloud_config(text))) == {HASH}


class _S3:
    def __init__(self, objects):
        self.objects = objects

    def get_object(self, Bucket, Key):  # noqa: N803 - boto3's parameter names
        return {'Body': io.BytesIO(self.objects[(Bucket, Key)])}


def _bundle(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w:gz') as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_a_hash_in_the_bundle_is_found_and_the_bundle_must_be_the_one_named():
    data = _bundle({'etc/pypiserver/users': SECRET.encode()})
    s3 = _S3({('bucket', 'key'): data})
    command = ['/usr/bin/python3', '-m', 'fetch_bundle', '--bucket', 'bucket', '--key', 'key',
               '--sha256', hashlib.sha256(data).hexdigest()]
    text = _cloud_config([], [command])
    assert find_hashes(text) == []
    assert cloud_config.bundle_of(lambda service: s3, text) == {'/etc/pypiserver/users': SECRET}
    assert find_hashes(cloud_config.everything_an_instance_reads(lambda service: s3, text)) == [HASH]

    command[-1] = '0' * 64
    with pytest.raises(AssertionError, match='not the one the user data names'):
        cloud_config.bundle_of(lambda service: s3, _cloud_config([], [command]))
