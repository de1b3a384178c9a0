"""Installing cc-app (cc-lib, cc-util, cc-future) through each client, cold, with credentials.

Each test has its own HOME, caches and venv. The expected tree includes cc-future
1.0.0: its 2.0.0 needs Python >= 3.99.
"""


import pytest
from conftest import APP_TREE, BASE_PYTHON, CLIENT_BIN, consumer_project, must, poetry_install, run


def test_pip_with_credentials_in_the_url(ws, corpus):
    ws.make_venv()
    must(ws.pip("install", "--no-cache-dir", "--index-url", ws.server.simple_with_credentials(), "cc-app"),
         "pip install with user:password in the index URL")
    assert ws.installed() == APP_TREE


def test_pip_with_netrc(ws, corpus):
    ws.make_venv()
    ws.write_netrc()
    must(ws.pip("install", "--no-cache-dir", "--index-url", ws.server.simple, "cc-app"),
         "pip install with the password in ~/.netrc")
    assert ws.installed() == APP_TREE


def test_pip_with_keyring(ws, corpus):
    ws.make_venv()
    ws.store_in_keyring()
    url = ws.server.simple.replace("://", f"://{ws.server.user}@", 1)
    must(ws.pip("install", "--no-cache-dir", "--keyring-provider", "subprocess", "--index-url", url, "cc-app"),
         "pip install with the password from keyring (subprocess provider)")
    assert ws.installed() == APP_TREE


def test_pip_without_credentials_is_refused(ws, corpus):
    ws.make_venv()
    proc = ws.pip("install", "--no-cache-dir", "--index-url", ws.server.simple, "cc-app")
    assert proc.returncode != 0, f"pip installed without credentials:\n{proc.output}"
    assert ws.installed() == {}, "pip installed something without credentials"


def test_uv_with_credentials_in_the_url(ws, corpus):
    ws.make_venv()
    must(ws.uv("pip", "install", "--python", ws.venv, "--index-url", ws.server.simple_with_credentials(), "cc-app"),
         "uv pip install with user:password in the index URL")
    assert ws.installed() == APP_TREE


def test_uv_with_netrc(ws, corpus):
    ws.make_venv()
    ws.write_netrc()
    must(ws.uv("pip", "install", "--python", ws.venv, "--index-url", ws.server.simple, "cc-app"),
         "uv pip install with the password in ~/.netrc")
    assert ws.installed() == APP_TREE


def test_uv_with_keyring(ws, corpus):
    ws.make_venv()
    ws.store_in_keyring()
    url = ws.server.simple.replace("://", f"://{ws.server.user}@", 1)
    must(ws.uv("pip", "install", "--python", ws.venv, "--keyring-provider", "subprocess", "--index-url", url, "cc-app"),
         "uv pip install with the password from keyring (subprocess provider)")
    assert ws.installed() == APP_TREE


def test_uv_project_with_index_credentials_from_the_environment(ws, corpus):
    project = consumer_project(ws, ">=3.11", f"""\
        [tool.uv]
        package = false

        [[tool.uv.index]]
        name = "private"
        url = "{ws.server.simple}"
        default = true
        """)
    del ws.env["UV_DEFAULT_INDEX"]  # the project's own index setting is what is tested here
    ws.env.update(UV_INDEX_PRIVATE_USERNAME=ws.server.user, UV_INDEX_PRIVATE_PASSWORD=ws.server.password)
    must(ws.uv("sync", "--python", BASE_PYTHON, cwd=project), "uv sync with UV_INDEX_PRIVATE_USERNAME/PASSWORD")
    assert ws.installed(project / ".venv") == APP_TREE
    lock = (project / "uv.lock").read_text()
    assert ws.server.password not in lock, "uv.lock holds the password"


def test_poetry(ws, corpus):
    project = poetry_install(ws, "cc-app", "poetry install with POETRY_HTTP_BASIC_PRIVATE_*")
    assert ws.installed(project / ".venv") == APP_TREE


def test_pdm(ws, corpus):
    # pdm expands ${VAR} in source URLs, so the password stays out of the file.
    url = ws.server.simple.replace("://", "://${CC_INDEX_USER}:${CC_INDEX_PASSWORD}@", 1)
    project = consumer_project(ws, ">=3.11", f"""\
        [tool.pdm]
        distribution = false

        [[tool.pdm.source]]
        name = "pypi"
        url = "{url}"
        """)
    ws.env.update(CC_INDEX_USER=ws.server.user, CC_INDEX_PASSWORD=ws.server.password,
                  PDM_CACHE_DIR=str(ws.home / ".cache/pdm"))
    must(run([CLIENT_BIN / "pdm", "use", "--first", BASE_PYTHON], ws.env, cwd=project), "pdm use")
    must(run([CLIENT_BIN / "pdm", "install"], ws.env, cwd=project, timeout=600), "pdm install with ${VAR} credentials")
    venv = project / ".venv"
    if not venv.exists():
        pytest.fail(f"pdm did not create {venv}")
    assert ws.installed(venv) == APP_TREE
    assert ws.server.password not in (project / "pdm.lock").read_text(), "pdm.lock holds the password"

