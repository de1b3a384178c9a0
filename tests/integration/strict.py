"""Settings of the running emulator's AWS strictness (tests/support/emulator.py, "strict as AWS"):
read with strict(emulator), changed with strict(emulator, name=value); /moto-api/reset restores them."""
import json
import urllib.request


def strict(emulator, **settings):
    request = urllib.request.Request(f"{emulator}/moto-api/privatepypi/strict", method="POST" if settings else "GET",
                                     data=json.dumps(settings).encode() if settings else None,
                                     headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=120).read())  # a loaded CI host: see conftest
