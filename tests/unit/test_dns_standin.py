# -*- coding: utf-8 -*-
# Copyright: (c) 2026, privatepypi developers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rehearsal's DNS stand-in (tests/support/dns_standin.py): DNS wire format in and out, the
records read from Route53 (moto in-process), and real UDP and TCP queries."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import struct

import pytest

boto3 = pytest.importorskip('boto3')
moto = pytest.importorskip('moto')

from ansible_collections.privatepypi.aws.tests.support import dns_standin  # noqa: E402

CHALLENGE = '_acme-challenge.pypi.example.test'


def query(name, qtype, ident=0x1234, flags=0x0100):
    labels = b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\0'
    return struct.pack('!HHHHHH', ident, flags, 1, 0, 0, 0) + labels + struct.pack('!HH', qtype, 1)


def decode(response):
    """(id, flags, answers as (type, ttl, rdata)) of a response whose answers point at the question."""
    ident, flags, qd, an = struct.unpack('!HHHH', response[:8])
    offset = 12
    for _question in range(qd):
        while response[offset]:
            offset += response[offset] + 1
        offset += 5
    answers = []
    for _answer in range(an):
        pointer, qtype, qclass, ttl, length = struct.unpack('!HHHIH', response[offset:offset + 12])
        assert pointer == 0xC00C and qclass == 1
        answers.append((qtype, ttl, response[offset + 12:offset + 12 + length]))
        offset += 12 + length
    assert offset == len(response)
    return ident, flags, answers


class Fixed:
    def __init__(self, table):
        self.table = table

    def lookup(self, name, qtype):
        if name not in self.table:
            return None
        return self.table[name].get(qtype, [])


def test_a_query_is_read_from_the_wire():
    data = query('_ACME-Challenge.Pypi.Example.Test', 16)
    ident, flags, name, qtype, qclass, question = dns_standin.parse_query(data)
    assert (ident, flags, name, qtype, qclass) == (0x1234, 0x0100, CHALLENGE, 16, 1)
    assert question == data[12:]  # echoed as asked (0x20 case randomisation stays intact)


@pytest.mark.parametrize('data', [
    b'\x00\x01',                                                       # shorter than a header
    query(CHALLENGE, 16, flags=0x8100),                                # a response, not a query
    query(CHALLENGE, 16)[:-3],                                         # question cut short
    struct.pack('!HHHHHH', 1, 0x100, 1, 0, 0, 0) + b'\xc0\x0c' + b'\x00\x10\x00\x01',  # compressed name
    struct.pack('!HHHHHH', 1, 0x100, 2, 0, 0, 0) + query(CHALLENGE, 16)[12:] * 2,      # two questions
])
def test_malformed_queries_get_formerr_never_an_exception(data):
    response = dns_standin.answer(data, Fixed({}))
    assert struct.unpack('!HH', response[2:6])[0] & 0x800F == 0x8000 | dns_standin.FORMERR


def test_txt_answer_in_wire_format():
    records = Fixed({CHALLENGE: {16: ['"token-one"', '"a \\"quoted\\" part" "second string"']}})
    ident, flags, answers = decode(dns_standin.answer(query(CHALLENGE, 16, ident=7), records))
    assert ident == 7
    assert flags & 0x8000 and flags & 0x0400 and flags & 0x0100 and flags & 0xF == 0  # QR, AA, RD kept, NOERROR
    assert answers == [(16, dns_standin.TTL, b'\x09token-one'),
                       (16, dns_standin.TTL, b'\x0fa "quoted" part\x0dsecond string')]


def test_long_txt_is_split_into_255_byte_strings():
    data = dns_standin.rdata(16, '"' + 'x' * 300 + '"')
    assert data[0] == 255 and data[256] == 45 and len(data) == 302


def test_other_types_and_missing_names():
    records = Fixed({'pypi.example.test': {1: ['172.28.0.11'], 28: ['fd00::1']}})
    assert decode(dns_standin.answer(query('pypi.example.test', 1), records))[2] == [(1, 5, socket.inet_aton('172.28.0.11'))]
    assert decode(dns_standin.answer(query('pypi.example.test', 28), records))[2][0][2] == b'\xfd' + b'\0' * 14 + b'\x01'
    flags, answers = decode(dns_standin.answer(query('pypi.example.test', 257), records))[1:]  # CAA: none, NOERROR
    assert answers == [] and flags & 0xF == dns_standin.NOERROR
    flags, answers = decode(dns_standin.answer(query('other.example.test', 16), records))[1:]
    assert answers == [] and flags & 0xF == dns_standin.NXDOMAIN


def test_a_failing_source_is_servfail():
    class Broken:
        def lookup(self, name, qtype):
            raise RuntimeError('emulator away')
    assert struct.unpack('!H', dns_standin.answer(query(CHALLENGE, 16), Broken())[2:4])[0] & 0xF == dns_standin.SERVFAIL


@pytest.fixture
def route53(aws):
    client = aws('route53')
    zone = client.create_hosted_zone(Name='example.test', CallerReference='z')['HostedZone']['Id']
    client.create_hosted_zone(Name='example.test', CallerReference='p', HostedZoneConfig={'PrivateZone': True},
                              VPC={'VPCRegion': 'us-east-1', 'VPCId': 'vpc-1'})
    client.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={'Changes': [
        {'Action': 'UPSERT', 'ResourceRecordSet': {'Name': CHALLENGE, 'Type': 'TXT', 'TTL': 60,
                                                   'ResourceRecords': [{'Value': '"abc-123"'}]}},
        {'Action': 'UPSERT', 'ResourceRecordSet': {'Name': 'pypi.example.test', 'Type': 'A', 'TTL': 60,
                                                   'ResourceRecords': [{'Value': '172.28.0.11'}]}}]})
    yield dns_standin.Route53Records(client)


def test_records_come_from_route53(route53):
    assert route53.lookup(CHALLENGE, 16) == ['"abc-123"']
    assert route53.lookup(CHALLENGE.upper() + '.', 16) == ['"abc-123"']
    assert route53.lookup('pypi.example.test', 1) == ['172.28.0.11']
    assert route53.lookup('pypi.example.test', 16) == []          # the name exists, no TXT
    assert route53.lookup('example.test', 16) == []               # the zone's apex
    assert route53.lookup('nothing.example.test', 16) is None     # NXDOMAIN
    assert route53.lookup('pypi.example.org', 16) is None         # in no zone


def test_udp_and_tcp_queries_are_answered(route53):
    servers = dns_standin.serve('127.0.0.1', 0, route53)
    try:
        udp_port = servers[0].server_address[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(query(CHALLENGE, 16, ident=42), ('127.0.0.1', udp_port))
            assert decode(sock.recv(512)) == (42, 0x8500, [(16, 5, b'\x07abc-123')])
        tcp_port = servers[1].server_address[1]
        with socket.create_connection(('127.0.0.1', tcp_port), timeout=5) as sock:
            message = query(CHALLENGE, 16, ident=43)
            sock.sendall(struct.pack('!H', len(message)) + message)
            length = struct.unpack('!H', sock.recv(2))[0]
            reply = b''
            while len(reply) < length:
                reply += sock.recv(length - len(reply))
            assert decode(reply)[2] == [(16, 5, b'\x07abc-123')]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
