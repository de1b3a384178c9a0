"""benchmarks/deploy.yml deploys (b) with a user the render-at-scale step can upload with: its role
line, as the role writes it and the host parses it, lets it upload the projects that step creates
(a reader got twine's 403, and the report printed that 403 as a figure)."""

import os
import sys

import yaml
from ansible_collections.privatepypi.aws.plugins.filter.access_data import role_lines
from privatepypi_host import access

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)
import make_dataset  # noqa: E402


def test_the_benchmark_user_may_upload_what_the_scale_step_uploads():
    with open(os.path.join(BENCHMARKS, "deploy.yml")) as handle:
        play = yaml.safe_load(handle)[0]
    users = [dict(u, name="bench", password="not-used-here") for u in play["vars"]["pypiserver_users"]]
    roles = access.parse_roles(role_lines(users))
    role, patterns = roles["bench"]
    assert role in ("uploader", "admin"), role
    # scale.py uploads a new project and a new version of the data set's second project
    for project in ("scale-new-1796547705", make_dataset.project_name(1)):
        assert access.project_allowed(patterns, project), (project, patterns)
