"""The bootstrap_bundle filter: reproducible, content-addressed, refuses what is not a file list."""

import base64
import hashlib
import io
import tarfile

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.privatepypi.aws.plugins.filter.bootstrap_bundle import bootstrap_bundle

FILES = [
    {"path": "/usr/local/sbin/pypiserver-bootstrap", "mode": "0755", "content": "#!/bin/bash\necho é\n"},
    {"path": "/etc/systemd/system/pypiserver.service", "mode": "0644", "content": "[Unit]\n"},
]


def test_same_files_same_bytes_and_key_whatever_the_order():
    first, second = bootstrap_bundle(FILES), bootstrap_bundle(list(reversed(FILES)))
    assert first == second
    data = base64.b64decode(first["content_base64"])
    assert first["sha256"] == hashlib.sha256(data).hexdigest() and first["size"] == len(data)
    assert first["key"] == f"bootstrap/{first['sha256']}.tar.gz"
    assert data[4:8] == b"\0\0\0\0"  # gzip without a timestamp
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == ["etc/systemd/system/pypiserver.service", "usr/local/sbin/pypiserver-bootstrap"]
        assert [(m.mode, m.uid, m.gid, m.mtime) for m in members] == [(0o644, 0, 0, 0), (0o755, 0, 0, 0)]
        assert archive.extractfile(members[1]).read() == "#!/bin/bash\necho é\n".encode()


def test_a_changed_byte_changes_the_key():
    changed = [dict(FILES[0], content=FILES[0]["content"] + " "), FILES[1]]
    assert bootstrap_bundle(changed)["key"] != bootstrap_bundle(FILES)["key"]
    assert bootstrap_bundle(FILES, prefix="other/")["key"].startswith("other/")


@pytest.mark.parametrize("files", [
    "not a list",
    [{"path": "relative/file", "mode": "0644", "content": ""}],
    [{"path": "/../etc/passwd", "mode": "0644", "content": ""}],
    [{"path": "/etc/a", "content": ""}],
    [{"path": "/etc/a", "mode": "0644", "content": ""}, {"path": "/etc//a", "mode": "0644", "content": ""}],
])
def test_refuses_what_is_not_a_list_of_absolute_files(files):
    with pytest.raises(AnsibleFilterError):
        bootstrap_bundle(files)
