#!/usr/bin/env python3
"""A DNS server that answers from the AWS emulator's Route53 zones (boot rehearsal only).

Pebble validates a DNS-01 challenge by asking a DNS server for the TXT record
_acme-challenge.<name>; on AWS that server is Route53's. Here Pebble asks this one
(pebble -dnsserver), which reads the record sets the instance's certbot wrote to the
emulator's Route53, so the challenge is validated for real, not waved through.

Stdlib only (plus boto3 for the emulator): one question per query, UDP and TCP, the record
types Route53 keeps as text (TXT, A, AAAA, CNAME); anything else an empty answer; a name
in no zone NXDOMAIN (a query we cannot parse: FORMERR).

  python -m tests.support.dns_standin --listen 172.28.0.1 --port 5053 --emulator-url URL
"""

import argparse
import ipaddress
import socketserver
import struct
import threading

TYPES = {"A": 1, "CNAME": 5, "TXT": 16, "AAAA": 28}
TYPE_NAMES = {number: name for name, number in TYPES.items()}
NOERROR, FORMERR, SERVFAIL, NXDOMAIN = 0, 1, 2, 3
TTL = 5  # the validation must see a new challenge at once


class Malformed(ValueError):
    """A query this server cannot read."""


def parse_query(data):
    """(id, flags, name, qtype, qclass, question bytes) of a query with one question."""
    if len(data) < 12:
        raise Malformed("shorter than a DNS header")
    ident, flags, qdcount = struct.unpack("!HHH", data[:6])
    if flags & 0x8000 or qdcount != 1:
        raise Malformed("not a query with one question")
    labels, offset = [], 12
    while True:
        if offset >= len(data):
            raise Malformed("name runs past the message")
        length = data[offset]
        offset += 1
        if length == 0:
            break
        if length > 63:  # compression pointers have no place in a question
            raise Malformed("label too long or compressed")
        labels.append(data[offset:offset + length].decode("ascii", "replace"))
        offset += length
    if offset + 4 > len(data):
        raise Malformed("question without type and class")
    qtype, qclass = struct.unpack("!HH", data[offset:offset + 4])
    return ident, flags, ".".join(labels).lower(), qtype, qclass, data[12:offset + 4]


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not raw or len(raw) > 63:
            raise ValueError(f"bad label in {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def rdata(qtype, value):
    """A record's data in wire format, from Route53's text form of it."""
    if qtype == TYPES["A"]:
        return ipaddress.IPv4Address(value).packed
    if qtype == TYPES["AAAA"]:
        return ipaddress.IPv6Address(value).packed
    if qtype == TYPES["CNAME"]:
        return encode_name(value)
    # TXT: Route53 keeps each value as one or more quoted strings: "abc" or "part1" "part2"
    strings, current, quoted, escaped = [], "", False, False
    for char in value:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            if quoted:
                strings.append(current)
                current = ""
            quoted = not quoted
        elif quoted:
            current += char
    if not strings and value and '"' not in value:
        strings = [value]
    out = b""
    for text in strings or [""]:
        raw = text.encode()
        for start in range(0, max(len(raw), 1), 255):
            chunk = raw[start:start + 255]
            out += bytes([len(chunk)]) + chunk
    return out


def build_response(query, rcode, values=(), qtype=None):
    """The answer to a parsed query: rcode and, for NOERROR, one record per value (name by pointer)."""
    ident, flags, _, asked, _, question = query
    qtype = asked if qtype is None else qtype
    # QR, the query's opcode and RD; AA: this server is the zone's authority
    answer_flags = 0x8000 | (flags & 0x7900) | 0x0400 | rcode
    answers = b""
    for value in values if rcode == NOERROR else ():
        data = rdata(qtype, value)
        answers += struct.pack("!HHHIH", 0xC00C, qtype, 1, TTL, len(data)) + data
    count = len(values) if rcode == NOERROR else 0
    return struct.pack("!HHHHHH", ident, answer_flags, 1, count, 0, 0) + question + answers


def error_response(data, rcode):
    """An answer to a query we could not read: its id and header only."""
    ident = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 0
    return struct.pack("!HHHHHH", ident, 0x8000 | rcode, 0, 0, 0, 0)


class Route53Records:
    """Looks names up in the emulator's Route53 zones (boto3, the emulator's own credentials)."""

    def __init__(self, client):
        self.client = client

    def lookup(self, name, qtype):
        """None when no zone holds the name (NXDOMAIN); else the record's values (maybe none)."""
        name = name.rstrip(".").lower()
        zones = [z for page in self.client.get_paginator("list_hosted_zones").paginate() for z in page["HostedZones"]
                 if not z.get("Config", {}).get("PrivateZone")]
        zone = max((z for z in zones if (name + ".").endswith("." + z["Name"].lower()) or name + "." == z["Name"].lower()),
                   key=lambda z: len(z["Name"]), default=None)
        if zone is None:
            return None
        found, exists = [], False
        pages = self.client.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=zone["Id"], StartRecordName=name)
        for page in pages:
            for record in page["ResourceRecordSets"]:
                if record["Name"].rstrip(".").lower().replace("\\052", "*") != name:
                    continue
                exists = True
                if record["Type"] == TYPE_NAMES.get(qtype):
                    found += [r["Value"] for r in record.get("ResourceRecords", [])]
        return found if exists or name + "." == zone["Name"].lower() else None


def answer(data, records):
    """The response bytes for one query's bytes."""
    try:
        query = parse_query(data)
    except Malformed:
        return error_response(data, FORMERR)
    try:
        values = records.lookup(query[2], query[3])
    except Exception:  # noqa: BLE001 - the emulator away or failing: the resolver retries
        return build_response(query, SERVFAIL)
    if values is None:
        return build_response(query, NXDOMAIN)
    return build_response(query, NOERROR, values)


def serve(listen, port, records):
    """UDP and TCP servers on (listen, port), in threads; returns them (call .shutdown())."""

    class Udp(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            sock.sendto(answer(data, records), self.client_address)

    class Tcp(socketserver.StreamRequestHandler):
        def handle(self):
            head = self.rfile.read(2)
            if len(head) == 2:
                reply = answer(self.rfile.read(struct.unpack("!H", head)[0]), records)
                self.wfile.write(struct.pack("!H", len(reply)) + reply)

    socketserver.ThreadingUDPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    servers = [socketserver.ThreadingUDPServer((listen, port), Udp), socketserver.ThreadingTCPServer((listen, port), Tcp)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return servers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5053)
    parser.add_argument("--emulator-url", required=True)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    import boto3
    client = boto3.client("route53", endpoint_url=args.emulator_url, region_name=args.region,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    serve(args.listen, args.port, Route53Records(client))
    threading.Event().wait()


if __name__ == "__main__":
    main()
