"""The verdict cache's key (privatepypi.lua) is HMAC-SHA1 as RFC 2104 defines it, built on nginx's own
SHA-1 instead of ngx.hmac_sha1 (OpenSSL 3's one-shot HMAC(), 9 % of a cached file answer): the module,
run by the host's Lua 5.1 with a SHA-1 stand-in that shows what it hashes, pads and nests exactly as
HMAC does, so the real SHA-1 in that shape gives Python's hmac digest."""

import hashlib
import hmac
import os
import shutil
import subprocess

import pytest

PROGRAM_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "pypiserver", "files", "privatepypi_host")
LUA = shutil.which("lua5.1") or shutil.which("luajit")

# sha1_bin(s) -> "<" .. s .. ">": the stand-in's output names each input, so the nesting can be read back
SCRIPT = """
package.path = arg[1] .. "/?.lua;" .. package.path
ngx = {sha1_bin = function(s) return "<" .. s .. ">" end}
local M = require("privatepypi")
local key, message = io.read("*l"), io.read("*l")
io.write(M.hmac_sha1(M.hmac_pads(key), message))
"""


def _lua_hmac(tmp_path, key, message):
    script = tmp_path / "hmac.lua"
    script.write_text(SCRIPT)
    result = subprocess.run([LUA, str(script), PROGRAM_DIR], input=key + b"\n" + message + b"\n",
                            capture_output=True, check=True, timeout=30)
    return result.stdout


@pytest.mark.skipif(LUA is None, reason="no Lua 5.1 interpreter (the lint stage's luacheck brings one)")
@pytest.mark.parametrize("key_length", [20, 32, 64])  # a generation's key is 20 bytes, the reload secret 32
def test_the_cache_key_is_rfc_2104_hmac_sha1(tmp_path, key_length):
    key = bytes((i * 37 + 11) % 251 or 1 for i in range(key_length)).replace(b"\n", b"\x0b")
    message = b"Basic YmVuY2g6c2VjcmV0"
    shown = _lua_hmac(tmp_path, key, message)
    # "<" outer-pad "<" inner-pad message ">" ">"
    assert shown[:1] == b"<" and shown[65:66] == b"<" and shown.endswith(message + b">>")
    outer, inner = shown[1:65], shown[66:130]
    padded = key.ljust(64, b"\0")
    assert inner == bytes(b ^ 0x36 for b in padded) and outer == bytes(b ^ 0x5C for b in padded)
    assert shown[130:-2] == message
    digest = hashlib.sha1(outer + hashlib.sha1(inner + message).digest()).digest()  # noqa: S324 (HMAC-SHA1, as the module)
    assert digest == hmac.new(key, message, "sha1").digest()
