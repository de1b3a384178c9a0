"""auth_cache.py: nginx auth_request answers from a real htpasswd file, over a real socket."""

import asyncio
import base64
import concurrent.futures
import hashlib
import json
import os
import threading
import time

import pytest
from passlib.hash import bcrypt, sha512_crypt
from privatepypi_host import access, auth_cache


def header(user, password):
    return base64.b64encode(f"{user}:{password}".encode())


def make_htpasswd(path, users, rounds=4):
    """Cost 4 keeps the suite fast; the service's dummy hash follows the file's cost."""
    path.write_text("".join(f"{user}:{bcrypt.using(rounds=rounds).hash(password)}\n" for user, password in users.items()))


def bundle_files(tmp_path, users, roles="", tokens="", rounds=4):
    make_htpasswd(tmp_path / "htpasswd", users, rounds)
    (tmp_path / "roles").write_text(roles)
    (tmp_path / "tokens").write_text(tokens)
    return str(tmp_path / "htpasswd"), str(tmp_path / "roles"), str(tmp_path / "tokens")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def verifier_for(tmp_path, users, roles="", tokens="", rounds=4, **kw):
    htpasswd, roles_path, tokens_path = bundle_files(tmp_path, users, roles, tokens, rounds)
    executor = concurrent.futures.ThreadPoolExecutor(4)
    return auth_cache.CredentialVerifier(htpasswd, 300, executor, roles_path, tokens_path, **kw)


def basic(user, password):
    return b"Basic " + header(user, password)


def decide(verifier, *values, address="192.0.2.1"):
    """(status, headers) without the generation every answer carries (test_generation_... checks it)."""
    status, headers = asyncio.run(verifier.decide(list(values), address))
    assert headers[-1] == ("X-Privatepypi-Generation", verifier.generation)
    return status, headers[:-1]


def spellings(user, password):
    """Distinct Authorization values for one credential (the scheme's case, spaces before the token):
    each is a fresh check for the service, as a verdict that left the cache would be."""
    token = header(user, password)
    for spaces in range(1, 40):
        for mask in range(32):
            scheme = bytes(c - 32 if mask >> i & 1 else c for i, c in enumerate(b"basic"))
            yield scheme + b" " * spaces + token


def test_parse_head_collects_every_authorization_and_the_address():
    head = b"GET /_auth HTTP/1.1\r\nAuthorization: Basic a\r\nX-Real-IP: 198.51.100.7\r\nauthorization: Basic b\r\n\r\n"
    assert auth_cache.parse_head(head) == ([b"Basic a", b"Basic b"], "198.51.100.7")
    assert auth_cache.parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == ([], "")


def test_role_headers_for_accounts_and_the_default_reader(tmp_path):
    verifier = verifier_for(tmp_path, {"alice": "alice-pw", "bob": "bob-pw", "carl": "carl-pw"},
                            roles="alice uploader cc-*,tools\nbob admin\n")
    assert decide(verifier, basic("alice", "alice-pw")) == (200, (
        ("X-Privatepypi-User", "alice"), ("X-Privatepypi-Role", "uploader"),
        ("X-Privatepypi-Projects", "cc-*,tools"), ("X-Privatepypi-Token", ""), ("X-Privatepypi-Expires", "300")))
    assert dict(decide(verifier, basic("bob", "bob-pw"))[1])["X-Privatepypi-Role"] == "admin"
    # no role line: private by default, a reader
    assert dict(decide(verifier, basic("carl", "carl-pw"))[1])["X-Privatepypi-Role"] == "reader"
    status, headers = decide(verifier, basic("alice", "wrong"))
    assert status == 401 and headers == auth_cache.DENY_HEADERS


@pytest.mark.parametrize("values", [
    [],
    [b"Basic !!!notbase64"],
    [b"Basic " + base64.b64encode(b"alice-no-colon")],
    [b"Basic " + base64.b64encode(b":alice-pw")],
    [b"Basic " + base64.b64encode(b"alice:")],
    [b"Bearer " + header("alice", "alice-pw")],
    [b"Digest username=alice"],
    [b"Basic " + base64.b64encode(b"alice:\xff\xfe")],
    [b"Basic " + base64.b64encode(b"\xe9:alice-pw")],
    [b"Basic " + base64.b64encode(b"alice:" + b"a" * 5000)],
    [b"Basic " + base64.b64encode(b"alice:alice-pw" + b"x" * 60)],  # 74 bytes: bcrypt would truncate
    [basic("alice", "alice-pw"), basic("alice", "alice-pw")],  # repeated
    [basic("alice", "alice-pw"), b"Basic !!!"],
    [b"Basic"],
    [b"basic  "],
    [b"Basic " + base64.b64encode(b"al\nice:alice-pw")],
])
def test_malformed_authorization_is_a_401(tmp_path, values):
    verifier = verifier_for(tmp_path, {"alice": "alice-pw"})
    assert decide(verifier, *values)[0] == 401


def test_password_of_exactly_72_bytes_works(tmp_path):
    password = "p" * 72
    verifier = verifier_for(tmp_path, {"alice": password})
    assert decide(verifier, basic("alice", password))[0] == 200
    assert decide(verifier, basic("alice", password + "tail"))[0] == 401  # never the truncated match


def test_backoff_per_address_and_guess_budget_per_user_with_one_audit_line_per_burst(tmp_path):
    clock = Clock()
    audit = tmp_path / "audit.log"
    verifier = verifier_for(tmp_path, {"alice": "alice-pw", "bob": "bob-pw"}, clock=clock, audit_log=str(audit),
                            backoff=auth_cache.Backoff(free=3, base=2, ceiling=30),
                            guesses=auth_cache.GuessBudget(burst=5, per_hour=36))
    good = basic("alice", "alice-pw")
    assert decide(verifier, good, address="198.51.100.1")[0] == 200  # cached from here on
    answers = [decide(verifier, basic("bob", f"guess-{i}"), address="203.0.113.9") for i in range(4)]
    assert [a[0] for a in answers[:3]] == [401, 401, 401]
    assert answers[3][0] == 429 and dict(answers[3][1]) == {"Retry-After": "2", "X-Privatepypi-Backoff": "address"}
    # the address backs off for every user; another address is not blocked
    assert decide(verifier, basic("carl", "x"), address="203.0.113.9")[0] == 429
    assert decide(verifier, basic("carl", "x"), address="198.51.100.3")[0] == 401
    # a working user's cached verdict is not locked out by the attack on the address it shares
    assert decide(verifier, good, address="203.0.113.9")[0] == 200
    # bob's name: 3 wrong guesses checked so far, 2 more from other addresses empty its budget of 5
    assert [decide(verifier, basic("bob", f"more-{i}"), address=f"198.51.100.{20 + i}")[0] for i in range(3)] == [
        401, 401, 429]
    status, headers = decide(verifier, basic("bob", "another"), address="198.51.100.30")
    assert status == 429 and dict(headers) == {"Retry-After": "100", "X-Privatepypi-Backoff": "user"}
    # bob has never logged in, so a right password from a new address waits too; it refills at 36 an hour
    assert decide(verifier, basic("bob", "bob-pw"), address="198.51.100.31")[0] == 429
    clock.now += 100
    assert decide(verifier, basic("bob", "bob-pw"), address="198.51.100.31")[0] == 200
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(r["event"], r["backoff"], r["client"]) for r in records] == [
        ("login_failures", "address", "203.0.113.9"), ("login_failures", "user", "198.51.100.21")]
    assert all(r["who"] == "bob" for r in records)


def test_a_secret_typed_as_a_user_name_is_never_logged(tmp_path, caplog):
    """A token or a password in the user field (no account has that name) is neither audited nor in
    the service's log: the record names no account; an account's own name is still recorded."""
    audit = tmp_path / "audit.log"
    verifier = verifier_for(tmp_path, {"alice": "alice-pw"}, clock=Clock(), audit_log=str(audit),
                            backoff=auth_cache.Backoff(free=2, base=2, ceiling=30),
                            guesses=auth_cache.GuessBudget(burst=2, per_hour=36))
    secret = "ppt_" + "s3cr3t" * 6
    with caplog.at_level("DEBUG"):
        answers = [decide(verifier, basic(secret, "x"), address="203.0.113.9")[0] for _attempt in range(3)]
        answers += [decide(verifier, basic("alice", f"guess-{i}"), address=f"198.51.100.{i}")[0] for i in range(3)]
    assert answers == [401, 401, 429, 401, 401, 429]
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(r["backoff"], r["who"]) for r in records] == [("address", "(no such account)"), ("user", "alice")]
    assert secret not in audit.read_text() and secret not in caplog.text


def test_fifty_addresses_guessing_for_an_hour_never_lock_the_user_out(tmp_path):
    """The lockout of issue 17: wrong guesses for alice's name from 50 addresses, every 5 s each, for an
    hour. Alice's right password (a fresh check each time) and a token, both from her own address, never
    fail; no more than 100 guesses get a real check in the hour; a wrong guess from alice's address is
    still checked (and still refused)."""
    clock, wall = Clock(), Clock()
    secret = access.new_secret()
    verifier = verifier_for(tmp_path, {"alice": "alice-pw"}, clock=clock, wall=wall,
                            tokens=f"ci upload 0 {access.token_digest(secret)}\n")
    checks = []
    real = verifier._check_password
    verifier._check_password = lambda u, p: checks.append((clock.now, p)) or real(u, p)
    home = "198.51.100.7"
    fresh = spellings("alice", "alice-pw")
    token = header("__token__", secret)

    async def scenario():
        seen = {"alice": set(), "token": set(), "attack": set()}
        assert (await verifier.decide([next(fresh)], home))[0] == 200  # alice logged in from home once
        for tick in range(720):  # 5 s each: an hour
            clock.now += 5
            wall.now += 5
            for n in range(50):
                status = (await verifier.decide([basic("alice", f"guess-{tick}-{n}")], f"203.0.113.{n + 1}"))[0]
                seen["attack"].add(status)
            if tick % 6 == 0:  # every 30 s: alice with a credential the service has never seen, and her CI token
                seen["alice"].add((await verifier.decide([next(fresh)], home))[0])
                seen["token"].add((await verifier.decide([b"bAsIc " + b" " * (tick % 30) + token], home))[0])
        typo = await verifier.decide([basic("alice", "alice-typo")], home)
        return seen, typo

    seen, typo = asyncio.run(scenario())
    assert seen["alice"] == {200} and seen["token"] == {200}, seen
    assert seen["attack"] <= {401, 429} and 429 in seen["attack"], seen
    wrong = [when for when, password in checks if password != "alice-pw"]
    assert 20 <= len(wrong) - 1 < 100, len(wrong)  # the burst, then 60 an hour (the typo below is the last)
    assert typo[0] == 401 and checks[-1][1] == "alice-typo"


def test_a_right_password_known_to_be_right_passes_without_a_check_when_the_budget_is_spent(tmp_path):
    clock = Clock()
    verifier = verifier_for(tmp_path, {"alice": "alice-pw"}, clock=clock, guesses=auth_cache.GuessBudget(2, 1))
    assert decide(verifier, basic("alice", "alice-pw"), address="198.51.100.1")[0] == 200
    for i in range(3):
        decide(verifier, basic("alice", f"wrong-{i}"), address=f"203.0.113.{i}")
    assert decide(verifier, basic("alice", "nope"), address="203.0.113.50")[0] == 429
    clock.now += 10 * 86400  # far past any ttl: a password's verdict lasts while its entry is unchanged
    assert decide(verifier, basic("alice", "alice-pw"), address="192.0.2.200")[0] == 200


def test_only_the_verdicts_of_changed_accounts_are_forgotten(tmp_path):
    clock, wall = Clock(), Clock()
    secret, other = access.new_secret(), access.new_secret()
    tokens = f"ci upload 0 {access.token_digest(secret)}\nbot read 0 {access.token_digest(other)}\n"
    verifier = verifier_for(tmp_path, {"alice": "alice-pw", "bob": "bob-pw", "carl": "carl-pw"}, clock=clock, wall=wall,
                            roles="carl uploader\n", tokens=tokens)
    checks = []
    real = verifier._check_password
    verifier._check_password = lambda u, p: checks.append(u) or real(u, p)
    for user in ("alice", "bob", "carl"):
        assert decide(verifier, basic(user, f"{user}-pw"))[0] == 200
    assert decide(verifier, basic("__token__", secret))[0] == 200 and decide(verifier, basic("__token__", other))[0] == 200
    assert decide(verifier, basic("alice", "alice-new"))[0] == 401
    generation = verifier.generation
    # bob's password and alice's change, carl becomes a reader, the token ci is revoked
    htpasswd = (tmp_path / "htpasswd").read_text().splitlines()
    (tmp_path / "htpasswd").write_text("\n".join(
        line if not line.startswith(("bob:", "alice:")) else line.split(":")[0] + ":" + bcrypt.using(rounds=4).hash(
            line.split(":")[0] + "-new") for line in htpasswd) + "\n")
    (tmp_path / "roles").write_text("")
    (tmp_path / "tokens").write_text(tokens.splitlines()[1] + "\n")
    for path in ("htpasswd", "roles", "tokens"):
        os.utime(tmp_path / path, (time.time() + 5, time.time() + 5))
    clock.now += auth_cache.STAT_INTERVAL
    checks.clear()
    assert decide(verifier, basic("__token__", other))[0] == 200  # unchanged: still known
    assert verifier.generation != generation
    assert decide(verifier, basic("__token__", secret))[0] == 401
    assert decide(verifier, basic("bob", "bob-pw"))[0] == 401 and decide(verifier, basic("bob", "bob-new"))[0] == 200
    assert decide(verifier, basic("alice", "alice-new"))[0] == 200  # its old refusal went with the old hash
    assert dict(decide(verifier, basic("carl", "carl-pw"))[1])["X-Privatepypi-Role"] == "reader"
    assert sorted(checks) == ["alice", "bob", "bob", "carl"]  # nothing for the unchanged token


def test_generation_changes_with_the_files_and_with_a_restart(tmp_path):
    clock = Clock()
    verifier = verifier_for(tmp_path, {"alice": "alice-pw"}, clock=clock)
    status, headers = asyncio.run(verifier.decide([], ""))
    assert status == 401 and headers[-1] == ("X-Privatepypi-Generation", verifier.generation)
    first = verifier.generation
    clock.now += auth_cache.STAT_INTERVAL
    asyncio.run(verifier.decide([], ""))
    assert verifier.generation == first  # nothing changed
    (tmp_path / "roles").write_text("alice admin\n")
    os.utime(tmp_path / "roles", (time.time() + 5, time.time() + 5))
    clock.now += auth_cache.STAT_INTERVAL
    asyncio.run(verifier.decide([], ""))
    assert verifier.generation != first
    assert verifier_for(tmp_path, {"alice": "alice-pw"}).generation != verifier_for(tmp_path, {"alice": "alice-pw"}).generation


def test_guess_budget_refills_and_bounds_any_hour():
    budget = auth_cache.GuessBudget(burst=20, per_hour=60)
    spent = [budget.spend("a", 0) for _guess in range(20)]
    assert spent == [False] * 19 + [True] and budget.wait("a", 0) == 60
    checked, now = 20, 0.0
    while now < 3600:  # a guess whenever the budget allows: 20 + 60 in the first hour, never 100
        now += budget.wait("a", now) or 0.001
        if budget.wait("a", now) == 0:
            budget.spend("a", now)
            checked += 1
    assert 75 <= checked <= 81 and budget.wait("b", now) == 0


def test_backoff_grows_and_malformed_headers_count(tmp_path):
    backoff = auth_cache.Backoff(free=2, base=1, ceiling=8)
    assert [backoff.failed("a", 0), backoff.failed("a", 0), backoff.failed("a", 0)] == [False, True, False]
    assert backoff.wait("a", 0) == 2 and backoff.wait("b", 0) == 0
    for _failure in range(10):
        backoff.failed("a", 0)
    assert backoff.wait("a", 0) == 8  # the ceiling
    backoff.succeeded("a")
    assert backoff.wait("a", 0) == 0
    # slow guessing adds up: only a whole window without a failure starts the count again
    paced = auth_cache.Backoff(free=3, base=1, ceiling=8, window=100)
    assert [paced.failed("b", t) for t in (0, 90, 180)] == [False, False, True]
    assert [paced.failed("c", t) for t in (0, 101, 202)] == [False, False, False]
    verifier = verifier_for(tmp_path, {"alice": "alice-pw"}, backoff=auth_cache.Backoff(free=2, base=5))
    assert [decide(verifier, b"Basic !!!")[0] for _attempt in range(3)] == [401, 401, 429]


def test_slow_checks_are_bounded_and_never_queue(tmp_path):
    verifier = verifier_for(tmp_path, {"alice": "alice-pw"}, slots=2)
    release = threading.Event()
    real = verifier._check_password

    def slow(user, password):
        release.wait(10)
        return real(user, password)

    verifier._check_password = slow

    async def scenario():
        first = [asyncio.ensure_future(verifier.decide([basic("alice", f"pw-{i}")], f"198.51.100.{i}")) for i in range(2)]
        same = asyncio.ensure_future(verifier.decide([basic("alice", "pw-0")], "198.51.100.9"))  # shares a check
        await asyncio.sleep(0.05)
        started = time.monotonic()
        third = await verifier.decide([basic("alice", "alice-pw")], "198.51.100.3")
        waited = time.monotonic() - started
        release.set()
        return [await f for f in first], await same, third, waited

    done, same, third, waited = asyncio.run(scenario())
    assert [d[0] for d in done] == [401, 401] and same[0] == 401
    assert third[:2] == (503, (("Retry-After", "1"), ("X-Privatepypi-Generation", verifier.generation)))
    assert waited < 0.05
    assert decide(verifier, basic("alice", "alice-pw"))[0] == 200  # slots free again


def test_a_flood_of_bad_credentials_cannot_evict_a_working_user(tmp_path):
    verifier = verifier_for(tmp_path, {"alice": "alice-pw"}, cache_size=20,
                            backoff=auth_cache.Backoff(free=10**6), guesses=auth_cache.GuessBudget(10**6))
    calls = []
    real = verifier._check_password
    verifier._check_password = lambda u, p: calls.append(u) or real(u, p)
    assert decide(verifier, basic("alice", "alice-pw"))[0] == 200
    for i in range(200):
        assert decide(verifier, basic("alice", f"flood-{i}"), address=f"10.0.{i // 250}.{i % 250}")[0] == 401
    calls.clear()
    assert decide(verifier, basic("alice", "alice-pw"))[0] == 200 and calls == []  # still cached
    assert len(verifier._bad) == 20  # bounded


def test_cache_is_keyed_by_a_keyed_hash_never_the_header(tmp_path):
    verifier = verifier_for(tmp_path, {"alice": "alice-pw"})
    value = basic("alice", "alice-pw")
    decide(verifier, value)
    (key,) = verifier._good.items
    assert value not in key and header("alice", "alice-pw") not in key and len(key) == 20
    assert key != hashlib.blake2b(value, digest_size=20).digest()


def test_unknown_user_costs_what_a_wrong_password_costs(tmp_path):
    verifier = verifier_for(tmp_path, {"alice": "alice-pw"}, rounds=12, backoff=auth_cache.Backoff(free=10**6),
                            guesses=auth_cache.GuessBudget(10**6))

    samples = {"alice": [], "nobody": []}
    # CPU time of the process (the check runs in its executor thread): the work an attacker would time on an
    # idle server, which a shared, loaded test machine does not blur as it blurs wall time
    for i in range(5):
        for user, times in samples.items():
            started = time.process_time()
            assert decide(verifier, basic(user, f"wrong-{user}-{i}"))[0] == 401
            times.append(time.process_time() - started)
    known, unknown = min(samples["alice"]), min(samples["nobody"])
    assert known > 0.05  # a real bcrypt check at the file's cost (12)
    assert 0.6 < unknown / known < 1.7, (known, unknown)  # without the dummy check: unknown / known < 0.01


def test_tokens_roles_expiry_and_revocation(tmp_path):
    clock = Clock()
    wall = Clock()
    secret, expiring = access.new_secret(), access.new_secret()
    tokens = (f"ci upload 0 {access.token_digest(secret)} cc-*\n"
              f"short read {int(wall.now) + 60} {access.token_digest(expiring)}\n")
    verifier = verifier_for(tmp_path, {"alice": "alice-pw"}, tokens=tokens, clock=clock, wall=wall)
    status, headers = decide(verifier, basic("__token__", secret))
    assert status == 200 and dict(headers) == {"X-Privatepypi-User": "__token__", "X-Privatepypi-Role": "uploader",
                                               "X-Privatepypi-Projects": "cc-*", "X-Privatepypi-Token": "ci",
                                               "X-Privatepypi-Expires": "300"}
    # nginx keeps a token's verdict no longer than the token lives
    assert dict(decide(verifier, basic("__token__", expiring))[1])["X-Privatepypi-Expires"] == "60"
    clock.now += 20
    wall.now += 20
    assert dict(decide(verifier, basic("__token__", expiring))[1])["X-Privatepypi-Expires"] == "40"
    clock.now -= 20
    wall.now -= 20
    assert dict(decide(verifier, basic("__token__", expiring))[1])["X-Privatepypi-Role"] == "reader"
    assert decide(verifier, basic("__token__", "ppt_not-a-token"))[0] == 401
    clock.now += 61
    wall.now += 61  # past the expiry: the cached verdict ends with the token
    assert decide(verifier, basic("__token__", expiring))[0] == 401
    # revoked: the file changes, the next refresh (STAT_INTERVAL) forgets the verdicts of changed tokens
    (tmp_path / "tokens").write_text("")
    os.utime(tmp_path / "tokens", (time.time() + 5, time.time() + 5))
    clock.now += auth_cache.STAT_INTERVAL
    assert decide(verifier, basic("__token__", secret))[0] == 401


def test_bad_files_keep_the_last_good_data(tmp_path):
    clock = Clock()
    verifier = verifier_for(tmp_path, {"alice": "alice-pw"}, roles="alice admin\n", clock=clock)
    assert dict(decide(verifier, basic("alice", "alice-pw"))[1])["X-Privatepypi-Role"] == "admin"
    (tmp_path / "roles").write_text("alice emperor\n")
    clock.now += auth_cache.STAT_INTERVAL
    assert dict(decide(verifier, basic("alice", "alice-pw"))[1])["X-Privatepypi-Role"] == "admin"
    (tmp_path / "htpasswd").unlink()
    (tmp_path / "roles").write_text("")
    clock.now += auth_cache.STAT_INTERVAL
    assert decide(verifier, basic("alice", "alice-pw"))[0] == 401  # no htpasswd: nobody


def test_only_bcrypt_is_loaded_never_a_faster_scheme(tmp_path, caplog):
    """Issue 17: the service verified sha512-crypt too; at 5,000 rounds it answers in 5 ms against 345 ms
    for bcrypt, so the name answered sooner than an unknown one (which costs a dummy bcrypt)."""
    clock = Clock()
    sha = sha512_crypt.using(rounds=5000).hash("bob-pw")
    htpasswd, roles, tokens = bundle_files(tmp_path, {})
    with open(htpasswd, "w", encoding="utf-8") as f:
        f.write(f"bob:{sha}\n")
    caplog.set_level("ERROR", logger="pypiserver-auth")
    verifier = auth_cache.CredentialVerifier(htpasswd, 300, concurrent.futures.ThreadPoolExecutor(2), roles, tokens,
                                             clock=clock)
    assert decide(verifier, basic("bob", "bob-pw"))[0] == 401  # at start: the file is refused, nobody gets in
    assert "the hash is sha512-crypt ($6$); only bcrypt" in caplog.text and "every request is refused" in caplog.text
    assert sha not in caplog.text
    # a good file, then a sha512-crypt line again: refused loudly, the last good data stays in use
    make_htpasswd(tmp_path / "htpasswd", {"alice": "alice-pw"})
    clock.now += auth_cache.STAT_INTERVAL
    assert decide(verifier, basic("alice", "alice-pw"))[0] == 200
    caplog.clear()
    with open(htpasswd, "a", encoding="utf-8") as f:
        f.write(f"bob:{sha}\n")
    os.utime(htpasswd, (time.time() + 5, time.time() + 5))
    clock.now += auth_cache.STAT_INTERVAL
    assert decide(verifier, basic("bob", "bob-pw"))[0] == 401
    assert decide(verifier, basic("alice", "alice-pw"))[0] == 200
    assert "only bcrypt" in caplog.text and "the last good ones stay in use" in caplog.text
    # and the verifier itself checks nothing but bcrypt, whatever reached its table
    verifier._users["bob"] = sha
    assert not verifier._check_password("bob", "bob-pw")


def test_server_over_a_socket(tmp_path):
    verifier = verifier_for(tmp_path, {"alice": "secret"})

    async def scenario():
        server = await asyncio.start_server(lambda r, w: auth_cache.serve_connection(verifier, r, w), "127.0.0.1", 0,
                                            limit=auth_cache.MAX_HEAD)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def ask(extra):
            writer.write(b"GET /_auth HTTP/1.1\r\nX-Real-IP: 192.0.2.5\r\n" + extra + b"\r\n")
            return (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")

        ok = await ask(b"Authorization: Basic " + header("alice", "secret") + b"\r\n")
        bad = await ask(b"Authorization: Basic " + header("alice", "wrong") + b"\r\n")
        started = time.monotonic()
        cached = await ask(b"Authorization: Basic " + header("alice", "secret") + b"\r\n")
        cached_seconds = time.monotonic() - started
        huge = await ask(b"X-Filler: " + b"a" * (auth_cache.MAX_HEAD + 10) + b"\r\n")
        closed = await reader.read()
        writer.close()
        server.close()
        return ok, bad, cached, cached_seconds, huge, closed

    ok, bad, cached, cached_seconds, huge, closed = asyncio.run(scenario())
    assert ok[0] == b"HTTP/1.1 200 OK" and b"X-Privatepypi-User: alice" in ok and b"X-Privatepypi-Role: reader" in ok
    assert bad[0] == b"HTTP/1.1 401 Unauthorized"
    assert cached[0] == b"HTTP/1.1 200 OK" and cached_seconds < 0.05
    assert huge[0] == b"HTTP/1.1 401 Unauthorized" and closed == b""


def test_ready_only_once_listening(tmp_path):
    """Type=notify: systemd starts nginx (ordered after this unit) only when the port answers."""
    import socket
    import subprocess
    import sys

    from conftest import FILES

    make_htpasswd(tmp_path / "htpasswd", {"alice": "right-password"})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(address)
        systemd.settimeout(20)
        env = dict(os.environ, NOTIFY_SOCKET=address, PYTHONPATH=FILES)
        proc = subprocess.Popen([sys.executable, "-m", "privatepypi_host.auth_cache", "--htpasswd",
                                 str(tmp_path / "htpasswd"), "--port", str(port)], env=env)
        try:
            assert systemd.recv(100) == b"READY=1"
            with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
                client.sendall(b"GET /_auth HTTP/1.1\r\nHost: x\r\n\r\n")
                assert client.recv(100).startswith(b"HTTP/1.1 401")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
