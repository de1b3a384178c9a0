# Copyright: (c) 2026, privatepypi developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The client_settings filter: what a user puts into pip, uv and poetry to use the index."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

SOURCE = 'privatepypi'


def client_settings(index):
    """Lines of working client settings for the index.

    index: simple_url (the PEP 503 root, ending /simple/), upload_url, user (the first user's name).
    Plain HTTP: pip refuses an http index it is not told to trust, so pip gets --trusted-host (the
    host without the port, as pip compares it) and the advice to prefer HTTPS.
    """
    if not isinstance(index, Mapping):
        raise AnsibleFilterError('client_settings expects a dict: simple_url, upload_url, user')
    simple, upload, user = (str(index.get(k) or '') for k in ('simple_url', 'upload_url', 'user'))
    parts = urlsplit(simple)
    if parts.scheme not in ('http', 'https') or not parts.hostname or not simple.endswith('/simple/') or not user:
        raise AnsibleFilterError(f'client_settings: {simple!r} is not an http(s) URL ending /simple/, or no user')
    with_user = f'{parts.scheme}://{user}@{parts.netloc}{parts.path}'
    plain = parts.scheme == 'http'
    trusted = f' --trusted-host {parts.hostname}' if plain else ''
    lines = [
        'pip (asks for the password, or keeps it in your keyring: pip install keyring):',
        f'  pip install --index-url {with_user}{trusted} PACKAGE',
        '~/.config/pip/pip.conf (Windows: %APPDATA%\\pip\\pip.ini):',
        '  [global]',
        f'  index-url = {with_user}',
    ]
    if plain:
        lines.append(f'  trusted-host = {parts.hostname}')
    lines += [
        'uv (pyproject.toml; the password from UV_INDEX_PRIVATEPYPI_PASSWORD or your keyring):',
        '  [[tool.uv.index]]',
        f'  name = "{SOURCE}"',
        f'  url = "{simple}"',
        '  default = true',
        f'  then: UV_INDEX_PRIVATEPYPI_USERNAME={user} uv sync',
        'poetry:',
        f'  poetry source add --priority=primary {SOURCE} {simple}',
        f'  poetry config http-basic.{SOURCE} {user}   # asks for the password',
        'Upload (twine asks for the password, or reads TWINE_PASSWORD or your keyring):',
        f'  twine upload --repository-url {upload} -u {user} dist/*',
    ]
    if plain:
        lines.append('Plain HTTP: passwords and packages cross the network unencrypted. Prefer HTTPS (aws_stack_domain), '
                     'or reach the index over a VPN or an SSH/SSM tunnel.')
    return lines


class FilterModule:
    def filters(self):
        return {'client_settings': client_settings}
