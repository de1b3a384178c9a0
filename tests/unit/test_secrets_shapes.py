# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests.support.secrets_shapes: every hash scheme an htpasswd can hold is found, in text and in bytes;
scheme names, digests and near misses are not."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

import pytest
from ansible_collections.privatepypi.aws.tests.support.secrets_shapes import find_hashes
from passlib.hash import apr_md5_crypt, bcrypt, md5_crypt, sha256_crypt, sha512_crypt

# Real hashes, as passlib (the htpasswd module's library) and Apache's htpasswd write them.
HASHES = {
    'bcrypt $2b$': bcrypt.using(rounds=4).hash('s3cret'),
    'bcrypt $2y$': bcrypt.using(rounds=4, ident='2y').hash('s3cret'),
    'bcrypt $2a$': bcrypt.using(rounds=4, ident='2a').hash('s3cret'),
    'sha512-crypt': sha512_crypt.using(rounds=5000).hash('s3cret'),
    'sha512-crypt rounds=': sha512_crypt.using(rounds=1000).hash('s3cret'),
    'sha512-crypt short salt': sha512_crypt.using(rounds=5000, salt='ab').hash('s3cret'),
    'sha256-crypt rounds=': sha256_crypt.using(rounds=1000).hash('s3cret'),
    'apr1': apr_md5_crypt.hash('s3cret'),
    'md5-crypt': md5_crypt.hash('s3cret'),
}

NOT_HASHES = {
    'scheme names': 'the hash is not bcrypt ($2b$/$2y$) or sha512-crypt ($6$); htpasswd -m writes $apr1$',
    'token digest line': '#token ci upload 4070908800 hmac-sha256$' + 'ab' * 16 + '$' + hashlib.sha256(b'x').hexdigest(),
    'sha256 hex': hashlib.sha256(b's3cret').hexdigest(),
    'bcrypt one short': HASHES['bcrypt $2b$'][:-1],
    'bcrypt without cost': '$2b$$' + 'a' * 53,
    'sha512 hash part short': HASHES['sha512-crypt'][:-2],
    'apr1 without salt end': '$apr1$' + 'a' * 30,
    'shell variables': 'echo "$1$2" $6$HOME ${2b}',
    'base64 blob': 'H4sIAAAAAAAC/+1Ya2/bRhb9Pr9iohQrG4Ckki3pxLIB2/hfzGJsQj1x3xtFD8AAHPD9Wj4',
}


@pytest.mark.parametrize('name', sorted(HASHES))
def test_a_hash_is_found_alone_in_text_and_in_bytes(name):
    hashed = HASHES[name]
    assert find_hashes(hashed) == [hashed]
    assert find_hashes(hashed.encode()) == [hashed.encode()]


@pytest.mark.parametrize('name', sorted(HASHES))
def test_a_hash_is_found_inside_a_file(name):
    hashed = HASHES[name]
    text = f'#!/bin/bash\ncat > /etc/pypiserver/htpasswd <<EOF\nalice:{hashed}\nEOF\n'
    assert find_hashes(text) == [hashed]
    assert find_hashes(f'"password_hash": "{hashed}"') == [hashed]  # in JSON


@pytest.mark.parametrize('name', sorted(NOT_HASHES))
def test_what_is_not_a_hash_is_not_found(name):
    assert find_hashes(NOT_HASHES[name]) == []
    assert find_hashes(NOT_HASHES[name].encode()) == []


def test_several_hashes_are_all_found():
    text = '\n'.join(f'user{i}:{h}' for i, h in enumerate(HASHES.values()))
    assert find_hashes(text) == list(HASHES.values())
