#!/usr/bin/env python3
"""Rehearses the AWS stack on this machine, end to end.

site.yml provisions the stack against the local AWS emulator, its stack image included: the
image builder the role launches is played by a container of the base image (Debian 13 with
cloud-init) that runs the builder's own user data and is captured (docker commit) under the
AMI id the launch template names. Then the launch template's user data, read back from the
emulator as AWS would hand it to an instance, boots a container of that image through
cloud-init. A host folder
stands in for EFS (a stand-in mount helper in the image binds it once its "gate" is
open, so a store can appear late or never), a metadata stand-in answers IMDSv2, the
instance fetches its bootstrap bundle from the emulator's S3 and sends its SSM, EC2 and
Auto Scaling calls there, and the agents' packages are tiny stand-in .debs served from
this machine through the role's package URL variables.

  python -m tests.support.rehearse up [--profile budget]   provision, boot, upload and install a demo package
  python -m tests.support.rehearse up --domain privatepypi.test
                                                          budget with a domain: the instance gets its certificate
                                                          from Pebble (DNS-01) and serves HTTPS on 443 (the demo
                                                          package goes through it)
  python -m tests.support.rehearse replace                 boot a second instance on the same "EFS" (port 8081)
  python -m tests.support.rehearse down                    tear the stack down, remove the containers
(from the checkout's root; scripts/demo.sh runs it)
"""

import argparse
import base64
import gzip
import http.client
import json
import os
import pathlib
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import boto3

from . import fast_ansible

ROOT = pathlib.Path(__file__).resolve().parents[2]
STATE = ROOT / ".cache" / "rehearsal"
NETWORK = "privatepypi"  # the project's Docker network (scripts/start-dockerd.sh)
GATEWAY = "172.28.0.1"
# A network without a way out (docker network create --internal): an instance on it reaches this
# machine's address on it (its gateway: the emulator, the metadata stand-in, the agents' packages)
# and nothing else, no package registry, no name outside (use_network("offline")).
OFFLINE_NETWORK, OFFLINE_SUBNET = "privatepypi-offline", "172.29.0"
OFFLINE = False
EMULATOR_PORT = int(os.environ.get("EMULATOR_PORT", "5000"))
IMDS_PORT = EMULATOR_PORT + 1
EMULATOR_URL = f"http://{GATEWAY}:{EMULATOR_PORT}"
IMDS_URL = f"http://{GATEWAY}:{IMDS_PORT}"
REGION = "us-east-1"
STACK = "privatepypi-rehearsal"
# Debian 13, what a stack boots by default (scripts/build-cloud-image.sh builds it). To rehearse a
# Debian 12 boot (a stack given /aws/service/debian/release/12/...): scripts/build-cloud-image.sh
# bookworm, then REHEARSAL_IMAGE=privatepypi/debian12-cloud:latest.
IMAGE = os.environ.get("REHEARSAL_IMAGE", "privatepypi/debian13-cloud:latest")
PYTHON = sys.executable
REFRESH_INTERVAL = "10s"
AGENTS_PORT = EMULATOR_PORT + 2
AGENTS_URL = f"http://{GATEWAY}:{AGENTS_PORT}"
# How long a rehearsal boot retries the mount and the downloads (the default is 15 minutes).
BOOT_RETRY_SECONDS = 90
# Budget with a domain (up --domain): Pebble, the ACME test CA (Debian's package), runs on this
# machine where the instances reach it, and validates DNS-01 by asking the DNS stand-in, which
# answers from the emulator's Route53 zones (what the instance's certbot wrote there).
DNS_PORT = EMULATOR_PORT + 53
PEBBLE_PORT = 14000
PEBBLE_MANAGEMENT_PORT = 15000
PEBBLE_URL = f"https://{GATEWAY}:{PEBBLE_PORT}/dir"
PEBBLE = STATE / "pebble"
# The instance containers: their address on the project network and the loopback port their
# plain index port is published on. The rehearsal's tests boot five of the stack's image and two of
# the base image (tests/rehearsal/conftest.py, base_image_boots).
INSTANCES = {f"privatepypi-instance-{n}": (f"172.28.0.{10 + n}", 8079 + n) for n in range(1, 8)}
INSTANCE_NAMES = list(INSTANCES)
BUILDER = "privatepypi-image-builder"
# A stack image's builder (aws_stack_image_enabled), captured: docker commit of the builder container
# under its instance id, then tagged with the id of the AMI the emulator's CreateImage returned.
BUILT_IMAGE, AMI_IMAGE = "privatepypi/stack-image", "privatepypi/ami"
# The CPU control group the instances run in (docker run --cgroup-parent), when the caller gives one:
# scripts/test.sh runs the rehearsal beside the other lanes with a larger CPU share, instances included,
# so that its time bounds measure the boot and not the other lanes' load.
CGROUP_PARENT = os.environ.get("REHEARSAL_CGROUP_PARENT", "")


def container_options():
    """What every instance container and the image builder are started with: systemd as PID 1 in the
    host's cgroup namespace, and the caller's CPU group, if any."""
    options = ["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--cgroupns=host",
               "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
               "--stop-signal", "SIGRTMIN+3"]
    return options + (["--cgroup-parent", CGROUP_PARENT] if CGROUP_PARENT else [])


def use_network(kind):
    """Moves the rehearsal (emulator, metadata stand-in, agents' packages, instances) onto the
    project's network ("online") or onto the internal one ("offline", created here once). The
    module's addresses are rebound: everything reads them when called."""
    prefix = OFFLINE_SUBNET if kind == "offline" else "172.28.0"
    if kind == "offline" and subprocess.run(["docker", "network", "inspect", OFFLINE_NETWORK],
                                            capture_output=True).returncode:
        run("docker", "network", "create", "--internal", "--subnet", f"{prefix}.0/24", "--gateway", f"{prefix}.1",
            OFFLINE_NETWORK, stdout=subprocess.DEVNULL)
    gateway = f"{prefix}.1"
    globals().update(
        OFFLINE=kind == "offline", NETWORK=OFFLINE_NETWORK if kind == "offline" else "privatepypi", GATEWAY=gateway,
        EMULATOR_URL=f"http://{gateway}:{EMULATOR_PORT}", IMDS_URL=f"http://{gateway}:{IMDS_PORT}",
        AGENTS_URL=f"http://{gateway}:{AGENTS_PORT}", PEBBLE_URL=f"https://{gateway}:{PEBBLE_PORT}/dir",
        INSTANCES={name: (f"{prefix}.{10 + n}", port) for n, (name, (_ip, port)) in enumerate(INSTANCES.items(), start=1)})


def index_address(name):
    """(host, port) of the instance's plain index port as this machine reaches it: its published port
    on loopback, or on the internal network (where Docker publishes no port) its own address."""
    return (INSTANCES[name][0], 8080) if OFFLINE else ("127.0.0.1", INSTANCES[name][1])
# nothing of this machine's own trust or client configuration may reach the clients
CLEAN = {k: v for k, v in os.environ.items()
         if not k.startswith(("PIP_", "UV_", "REQUESTS_", "SSL_CERT", "CURL_", "TWINE_"))}


def log(message):
    print("rehearse: " + message, flush=True)


def run(*command, **kwargs):
    return subprocess.run([str(c) for c in command], check=True, cwd=ROOT, **kwargs)


def aws(service):
    return boto3.client(service, endpoint_url=EMULATOR_URL, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def password(name):
    """A user's password, generated once and kept in .cache (mode 0600)."""
    STATE.mkdir(parents=True, exist_ok=True)
    path = STATE / ("password" if name == "demo" else "password-" + name)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


def users(names=("demo",)):
    # admins: the rehearsal and the demo upload, and an account without a role may only read
    return [{"name": name, "password": password(name), "role": "admin"} for name in names]


def domain_vars(domain):
    """Budget with a domain, its certificate from Pebble; certbot trusts the listener of Pebble's
    directory (its own test certificate) through the role's variable for a test CA."""
    if not domain:
        return {}
    return {"aws_stack_domain": domain, "aws_stack_acme_directory_url": PEBBLE_URL,
            "aws_stack_acme_email": "ops@" + domain,
            **({"pypiserver_acme_ca_bundle": (PEBBLE / "listener.pem").read_text()}
               if (PEBBLE / "listener.pem").exists() else {})}


def write_vars(user_names, domain=None):
    path = STATE / "vars.json"
    path.write_text(json.dumps({
        **domain_vars(domain),
        "aws_region": REGION, "aws_endpoint_url": EMULATOR_URL,
        # what the emulator cannot do: the launch template's own tags, an ALB attribute
        "aws_stack_launch_template_tags_enabled": False,
        # the containers that stand for instances run on this machine's amd64: an amd64 type of the
        # budget profile's size (its own, t4g.micro, is arm64 and would get arm64 wheels and agents)
        "aws_stack_instance_type": "t3.micro",
        # the agents come from stand-in packages served here (agent_debs()), so their install runs
        "aws_stack_instance_agents_enabled": True,
        "pypiserver_ssm_agent_package_url": AGENTS_URL + "/amazon-ssm-agent.deb",
        "pypiserver_cloudwatch_agent_package_url": AGENTS_URL + "/amazon-cloudwatch-agent.deb",
        "pypiserver_boot_retry_seconds": BOOT_RETRY_SECONDS,
        "aws_stack_alb_drop_invalid_header_fields": False,
        "aws_access_key": "testing", "aws_secret_key": "testing",
        "aws_stack_name": STACK, "aws_stack_contact_email": "ops@example.com",
        "aws_stack_index_cidrs": ["127.0.0.0/8", "172.28.0.0/24", f"{OFFLINE_SUBNET}.0/24"],
        "pypi_users": users(user_names),
        # The instances ask the metadata stand-in instead of 169.254.169.254.
        "pypiserver_imds_endpoint": IMDS_URL,
        # Shorter than the default 2 minutes, so the user tests wait less.
        "aws_stack_htpasswd_refresh_interval": REFRESH_INTERVAL,
    }))
    path.chmod(0o600)
    return path


def stack_domain():
    """The domain the rehearsal's stack was provisioned with (up --domain), or None."""
    path = STATE / "domain"
    return path.read_text().strip() if path.exists() else None


def playbook(playbook_path, profile, extra=(), user_names=("demo",), full_output=False):
    started = time.monotonic()
    # the modules' payloads built once, boto3 imported once (fast_ansible.py); each module runs whole
    result = subprocess.run(fast_ansible.command(playbook_path, "-e", "profile=" + profile,
                                                 "-e", "@" + str(write_vars(user_names, stack_domain())), *extra),
                            cwd=ROOT, env=dict(os.environ, **fast_ansible.environment()), capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{playbook_path} failed:\n{result.stdout[-6000:]}{result.stderr[-2000:]}")
    recap = result.stdout if full_output else result.stdout[result.stdout.rfind("PLAY RECAP"):]
    return time.monotonic() - started, recap


def emulator_running():
    """True while the emulator answers: the process is alive and its cheap probe replies."""
    return subprocess.run(["scripts/emulator.sh", "status", str(EMULATOR_PORT)], cwd=ROOT,
                          env=dict(os.environ, EMULATOR_HOST=GATEWAY), capture_output=True).returncode == 0


def removed_by(output):
    """The tasks of a playbook's output that changed something, with their items: for a teardown,
    what it removed (e.g. 'Delete the AutoScalingGroup and its instances')."""
    removed, task = [], None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):line.rfind("]")].split(" : ")[-1]
        elif line.startswith("changed:") and task:
            item = line.partition("(item=")[2].rpartition(")")[0]
            entry = task + (f" ({item})" if item else "")
            if entry not in removed:
                removed.append(entry)
    return removed


# The emulator's eventual-consistency delays (IAM propagation, certificates kept in use, lingering
# network interfaces) are proven by the integration suite's lifecycle tests; a rehearsal is about
# the boot, so it turns them off unless its environment sets them.
STRICT_DELAYS = ("EMULATOR_IAM_PROPAGATION_SECONDS", "EMULATOR_CERTIFICATE_RELEASE_SECONDS", "EMULATOR_ENI_LINGER_SECONDS",
                 "EMULATOR_CERTIFICATE_PROPAGATION_SECONDS")


def start_emulator():
    env = dict(os.environ, EMULATOR_HOST=GATEWAY)
    for knob in STRICT_DELAYS:
        env.setdefault(knob, "0")
    run("scripts/emulator.sh", "start", EMULATOR_PORT, stdout=subprocess.DEVNULL, env=env)


def start_imds():
    STATE.mkdir(parents=True, exist_ok=True)
    instances = STATE / "instances.json"
    if not instances.exists():
        instances.write_text("{}")
    pidfile = STATE / "imds.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text()), 0)
            return
        except (OSError, ValueError):
            pass
    # the instances get their instance profile role's credentials from the emulator's STS, and the
    # emulator enforces IAM for them: every call an instance makes is allowed by the role's policy or refused
    process = subprocess.Popen([PYTHON, "-m", "tests.support.imds_standin", "--listen", GATEWAY,
                                "--port", str(IMDS_PORT), "--instances", instances, "--region", REGION,
                                "--emulator-url", EMULATOR_URL],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pidfile.write_text(str(process.pid))


AGENT_DEBS = {
    # package: {path: (mode, content)} and a postinst; enough for the boot's install lines to run
    "amazon-ssm-agent": ({
        "lib/systemd/system/amazon-ssm-agent.service": (0o644, "[Unit]\nDescription=SSM agent (rehearsal stand-in)\n"
                                                        "[Service]\nExecStart=/bin/sleep infinity\n"
                                                        "[Install]\nWantedBy=multi-user.target\n"),
    }, ""),
    "amazon-cloudwatch-agent": ({
        "opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl": (
            0o755, "#!/bin/sh\n# rehearsal stand-in: records its call, checks the configuration is JSON\n"
                   "echo \"$@\" > /var/tmp/amazon-cloudwatch-agent-ctl.args\n"
                   "exec python3 -m json.tool /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json >/dev/null\n"),
    }, "#!/bin/sh\ngetent passwd cwagent >/dev/null || useradd --system --no-create-home cwagent\n"),
}


def agent_debs():
    """Builds the stand-in agent packages (dpkg-deb) and serves them on the project's network."""
    directory = STATE / "agents"
    for name, (files, postinst) in AGENT_DEBS.items():
        root = directory / "build" / name
        shutil.rmtree(root, ignore_errors=True)
        for path, (mode, content) in files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            target.chmod(mode)
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(
            f"Package: {name}\nVersion: 1.0-rehearsal\nArchitecture: all\nMaintainer: privatepypi rehearsal\n"
            f"Description: stand-in for {name} (boot rehearsal)\n")
        if postinst:
            (root / "DEBIAN" / "postinst").write_text(postinst)
            (root / "DEBIAN" / "postinst").chmod(0o755)
        run("dpkg-deb", "--root-owner-group", "--build", root, directory / f"{name}.deb", stdout=subprocess.DEVNULL)
    pidfile = STATE / "agents.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text()), 0)
            return
        except (OSError, ValueError):
            pass
    process = subprocess.Popen([PYTHON, "-m", "http.server", "--bind", GATEWAY, str(AGENTS_PORT)], cwd=directory,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pidfile.write_text(str(process.pid))


def launch_template_user_data():
    ec2 = aws("ec2")
    templates = ec2.describe_launch_templates(
        Filters=[{"Name": "tag:Stack", "Values": [STACK]}])["LaunchTemplates"] or \
        [t for t in ec2.describe_launch_templates()["LaunchTemplates"] if t["LaunchTemplateName"].startswith(STACK)]
    template = templates[0]
    version = ec2.describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Latest"])["LaunchTemplateVersions"][0]
    raw = base64.b64decode(version["LaunchTemplateData"]["UserData"])
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw, template


def asg_instance_ids():
    groups = aws("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    return [i["InstanceId"] for g in groups if g["AutoScalingGroupName"].startswith(STACK) for i in g["Instances"]]


def register_instance(ip, instance_id):
    path = STATE / "instances.json"
    mapping = json.loads(path.read_text())
    mapping[ip] = instance_id
    path.write_text(json.dumps(mapping))


def start(name, instance_id, efs=None, store_appears=True, image=None, network=None, ip=None):
    """Starts a container from the launch template's user data, with the folder efs (default: the
    stack's EFS stand-in) as its package file system. The store answers from the start
    (store_appears=True), or only once open_store(name) is called. Its image: the one the launch
    template boots (instance_image()) unless image names another (the base image, IMAGE)."""
    ip, port = ip or INSTANCES[name][0], INSTANCES[name][1]
    user_data, _ = launch_template_user_data()
    seed = STATE / name / "seed"
    seed.mkdir(parents=True, exist_ok=True)
    (seed / "user-data").write_bytes(user_data)
    (seed / "meta-data").write_text(f"instance-id: {instance_id}\nlocal-hostname: {name}\n")
    gate = STATE / name / "efs-gate"
    shutil.rmtree(gate, ignore_errors=True)
    gate.mkdir(parents=True)
    if store_appears:
        open_store(name)
    efs = efs or STATE / "efs"
    efs.mkdir(exist_ok=True)
    register_instance(ip, instance_id)
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    run("docker", "run", "-d", "--name", name, "--hostname", name, "--network", network or NETWORK, "--ip", ip,
        *container_options(), "-v", f"{seed}:/var/lib/cloud/seed/nocloud:ro",
        "-v", f"{efs}:/srv/efs-standin", "-v", f"{gate}:/srv/efs-gate:ro", "-p", f"127.0.0.1:{port}:8080",
        image or instance_image(),
        stdout=subprocess.DEVNULL)


def open_store(name):
    """The instance's package file system starts to answer (as EFS does once its DNS name resolves)."""
    (STATE / name / "efs-gate" / "open").touch()


def wait_healthy(name, started, limit=600):
    """Seconds from started until the instance answers /health on its index port; fails after limit."""
    deadline = started + limit
    while time.monotonic() < deadline:
        try:
            host, port = index_address(name)
            with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(1)
    subprocess.run(["docker", "exec", name, "cloud-init", "status", "--long"])
    raise SystemExit(f"{name} did not become healthy within {limit} s (on AWS, its AutoScalingGroup replaces it then)")


def wait_https(name, started, limit=300):
    """Seconds from started until the instance accepts connections on 443. /health answers
    on the index port before that: the self-check may start nginx with the plain site while the
    boot still waits for its certificate."""
    deadline = started + limit
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((INSTANCES[name][0], 443), timeout=2):
                return time.monotonic() - started
        except OSError:
            time.sleep(1)
    subprocess.run(["docker", "exec", name, "tail", "-30", "/var/log/cloud-init-output.log"])
    raise SystemExit(f"{name} did not serve HTTPS within {limit} s")


def wait_serving(name, started, limit):
    """Seconds from started until the instance is healthy (within limit), and on a stack with a
    domain until it serves HTTPS too, where its clients go: (healthy, https or None)."""
    healthy = wait_healthy(name, started, limit)
    return healthy, (wait_https(name, started) if stack_domain() else None)


def grace_period():
    """The seconds the stack's AutoScalingGroup gives a new instance before its health checks count:
    an instance not healthy by then is replaced on AWS, so a boot that takes longer fails here."""
    groups = aws("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    return min((g["HealthCheckGracePeriod"] for g in groups), default=300)


def boot(name, instance_id, efs=None):
    """Boots a container of the launch template's image from its user data; returns seconds to a healthy
    server, which must come within the AutoScalingGroup's grace period, and to HTTPS (wait_serving)."""
    started = time.monotonic()
    start(name, instance_id, efs)
    return wait_serving(name, started, limit=grace_period())


def health_status(instance_id):
    """The instance's health as its AutoScalingGroup records it (AWS: HEALTHY/UNHEALTHY)."""
    found = aws("autoscaling").describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
    return found[0]["HealthStatus"].upper() if found else None


def upload_and_install(name, version="1.0.0"):
    upload(name, version)
    install(name, version)


def set_users(profile, names):
    """Changes the index users the way an admin does (playbooks/users.yml): the SSM parameter
    only, no relaunch; the instances' timer picks it up."""
    seconds, recap = playbook("playbooks/users.yml", profile, user_names=names)
    return seconds, recap


def index_host():
    """The index's name on a stack with a domain (pypi.<domain>), else None."""
    domain = stack_domain()
    return "pypi." + domain if domain else None


def index_url(name, user=None):
    """The index on the instance as its clients name it: on a stack with a domain https://<its
    name>/ (the name resolving to that instance for one client alone, client()); else the
    instance's plain index port on loopback."""
    credentials = "{name}:{password}@".format(**user) if user else ""
    host = index_host()
    return f"https://{credentials}{host}/" if host else "http://{}{}:{}/".format(credentials, *index_address(name))


def trusted_root():
    """Pebble's root, the clients' only trust on a stack with a domain (fetched once per Pebble:
    down() removes it with Pebble's directory)."""
    path = PEBBLE / "root.pem"
    return path if path.exists() else pebble_root()


def client(name, *command):
    """A client's command line aimed at the instance: on a stack with a domain, with the index's
    name resolving to the instance's address (resolving())."""
    host = index_host()
    return resolving(host, INSTANCES[name][0], command) if host else [str(c) for c in command]


# A read of the index: 5 s timed out twice in CI at load 10, on the first authenticated reads of an
# instance that had just become healthy on a late or restored store (the cause is not measured yet)
READ_TIMEOUT = 15


def connection(name, context=None):
    """An HTTP connection to the instance's index: on a stack with a domain, HTTPS to its address
    on 443 with the index's name in SNI and Host, the chain checked against context (default:
    Pebble's root only)."""
    host = index_host()
    if not host:
        return http.client.HTTPConnection(*index_address(name), timeout=READ_TIMEOUT)
    return _Pinned(host, INSTANCES[name][0], context or ssl.create_default_context(cafile=trusted_root()))


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to a name on a given address (the name sent in SNI and Host, the chain checked for it)."""

    def __init__(self, host, address, context):
        super().__init__(host, 443, context=context, timeout=READ_TIMEOUT)
        self.address = address

    def connect(self):
        self.sock = self._context.wrap_socket(socket.create_connection((self.address, 443), timeout=5),
                                              server_hostname=self.host)


def basic(user):
    """The user's Authorization header value (HTTP Basic)."""
    return "Basic " + base64.b64encode("{name}:{password}".format(**user).encode()).decode()


def get(name, path, user):
    """(status, body) of a GET on the instance's index with the user's Basic credentials (none when
    user is None)."""
    headers = {"Authorization": basic(user)} if user else {}
    request = connection(name)
    try:
        request.request("GET", path, headers=headers)
        response = request.getresponse()
        return response.status, response.read().decode()
    finally:
        request.close()


def upload(name, version, user=None):
    """twine upload of the demo package's wheel and sdist, unless the index already has them."""
    user = user or users()[0]
    dist = STATE / "dist"
    files = run(PYTHON, "scripts/demo_package.py", dist, "--version", version,
                capture_output=True, text=True).stdout.split()
    listed = project_page(name)
    if f"privatepypi_demo-{version}-py3-none-any.whl" not in listed:
        trust = ["--cert", trusted_root()] if index_host() else []
        run(*client(name, PYTHON, "-m", "twine", "upload", "--non-interactive", *trust,
                    "--repository-url", index_url(name), "-u", user["name"], "-p", user["password"], *files),
            env=CLEAN, stdout=subprocess.DEVNULL)


def status(name, path, user):
    """HTTP status of a GET with the user's Basic credentials (none when user is None)."""
    return get(name, path, user)[0]


def project_page(name):
    code, body = get(name, "/simple/privatepypi-demo/", users()[0])
    if code == 404:
        return ""
    if code != 200:
        raise AssertionError(f"/simple/privatepypi-demo/ on {name}: {code}")
    return body


def wait_listed(name, version, seconds=5.0):
    """Seconds until the index on the instance lists the version's wheel; fails after `seconds`. A read that
    outlasts the connection's timeout counts as not listed yet, within the same bound."""
    started = time.monotonic()
    while True:
        try:
            listed = f"privatepypi_demo-{version}-py3-none-any.whl" in project_page(name)
        except TimeoutError:
            listed = False
        if listed:
            return time.monotonic() - started
        if time.monotonic() - started > seconds:
            raise AssertionError(f"version {version} not listed on {name} within {seconds} s")
        time.sleep(0.1)


def install(name, version):
    """pip install through the index into a fresh venv, once the index lists the version (within 30 s: on an
    instance that has just become healthy, the first authenticated read outlasted a 5 s read timeout in CI at
    load 10, after a store that appeared late)."""
    wait_listed(name, version, seconds=30.0)
    venv = STATE / f"venv-{name}"
    shutil.rmtree(venv, ignore_errors=True)
    run(PYTHON, "-m", "venv", venv)
    # the plain index port on the internal network is not loopback, which pip trusts over HTTP by itself
    trust = ["--cert", trusted_root()] if index_host() else ["--trusted-host", INSTANCES[name][0]] if OFFLINE else []
    run(*client(name, venv / "bin" / "pip", "install", "-q", "--no-cache-dir", "--disable-pip-version-check", *trust,
                "--index-url", index_url(name, users()[0]) + "simple/", f"privatepypi-demo=={version}"),
        env=dict(CLEAN, PIP_CONFIG_FILE=os.devnull))
    imported = run(venv / "bin" / "python", "-c", "import privatepypi_demo; print(privatepypi_demo.VERSION)",
                   capture_output=True, text=True).stdout.strip()
    if imported != version:
        raise SystemExit(f"installed {imported} instead of {version}")


def _alive(pidfile):
    try:
        os.kill(int(pidfile.read_text()), 0)
        return True
    except (OSError, ValueError):
        return False


def _stop(pidfile):
    """Ends the process group a pid file names (started here with start_new_session) and waits."""
    if not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text())
        os.killpg(pid, 15)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
    except (OSError, ValueError):
        pass
    pidfile.unlink(missing_ok=True)


def start_acme_ca():
    """Pebble on the project network's gateway, with the DNS stand-in as its resolver. Its
    directory's listener gets a certificate made here for that address; certbot trusts it through
    pypiserver_acme_ca_bundle, as in molecule/tls."""
    PEBBLE.mkdir(parents=True, exist_ok=True)
    if not (PEBBLE / "listener.pem").exists():
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "30", "-subj", "/CN=pebble", "-addext", f"subjectAltName=IP:{GATEWAY},IP:127.0.0.1,DNS:localhost",
            "-keyout", PEBBLE / "listener.key", "-out", PEBBLE / "listener.pem", stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
    # the same settings as molecule/tls's Pebble; no challenge is waved through (no PEBBLE_VA_ALWAYS_VALID)
    (PEBBLE / "config.json").write_text(json.dumps({"pebble": {
        "listenAddress": f"{GATEWAY}:{PEBBLE_PORT}", "managementListenAddress": f"127.0.0.1:{PEBBLE_MANAGEMENT_PORT}",
        "certificate": str(PEBBLE / "listener.pem"), "privateKey": str(PEBBLE / "listener.key"),
        "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": False}}))
    if not _alive(STATE / "dns.pid"):
        process = subprocess.Popen([PYTHON, "-m", "tests.support.dns_standin", "--listen", GATEWAY, "--port", str(DNS_PORT),
                                    "--emulator-url", EMULATOR_URL, "--region", REGION], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        (STATE / "dns.pid").write_text(str(process.pid))
    if not _alive(STATE / "pebble.pid"):
        # no random sleep before a validation, no nonce refused on purpose: a deterministic test
        environment = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0")
        with open(PEBBLE / "pebble.log", "ab") as output:
            process = subprocess.Popen(["pebble", "-config", PEBBLE / "config.json", "-dnsserver", f"{GATEWAY}:{DNS_PORT}"],
                                       cwd=PEBBLE, env=environment, stdout=output, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        (STATE / "pebble.pid").write_text(str(process.pid))
    context = ssl.create_default_context(cafile=PEBBLE / "listener.pem")
    for _ in range(60):
        try:
            with urllib.request.urlopen(PEBBLE_URL, timeout=2, context=context):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.5)
    raise SystemExit(f"Pebble did not answer on {PEBBLE_URL}; see {PEBBLE / 'pebble.log'}")


def pebble_root():
    """Path of Pebble's root, generated when it started (its management API): the clients' only trust."""
    context = ssl.create_default_context(cafile=PEBBLE / "listener.pem")
    with urllib.request.urlopen(f"https://127.0.0.1:{PEBBLE_MANAGEMENT_PORT}/roots/0", timeout=5,
                                context=context) as response:
        (PEBBLE / "root.pem").write_bytes(response.read())
    return PEBBLE / "root.pem"


def pebble_issued():
    """The certificates Pebble issued since it started (its log: one line each)."""
    path = PEBBLE / "pebble.log"
    return path.read_text().count("Issued certificate serial") if path.exists() else 0


def ensure_zone(domain):
    """The domain's public hosted zone (a prerequisite the user has on AWS, README)."""
    route53 = aws("route53")
    if not any(z["Name"] == domain + "." for z in route53.list_hosted_zones()["HostedZones"]):
        route53.create_hosted_zone(Name=domain, CallerReference=f"{STACK}-{domain}")


def remove_zone(domain):
    route53 = aws("route53")
    for zone in route53.list_hosted_zones()["HostedZones"]:
        if zone["Name"] != domain + ".":
            continue
        records = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
        leftovers = [r for r in records if r["Type"] not in ("SOA", "NS")]
        if leftovers:  # what the stack's teardown or certbot's cleanup left behind
            log("records left in the zone: " + ", ".join(f"{r['Name']} {r['Type']}" for r in leftovers))
            route53.change_resource_record_sets(HostedZoneId=zone["Id"], ChangeBatch={"Changes": [
                {"Action": "DELETE", "ResourceRecordSet": r} for r in leftovers]})
        route53.delete_hosted_zone(Id=zone["Id"])


def resolving(name, address, command):
    """command, run with name resolving to address, as curl --resolve does for one call: a hosts
    file bound over /etc/hosts in a mount namespace of its own (this machine's stays as it is)."""
    STATE.mkdir(parents=True, exist_ok=True)
    hosts = STATE / f"hosts-{name}-{address}"
    hosts.write_text(f"127.0.0.1 localhost\n{address} {name}\n")
    return ["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts),
            *[str(c) for c in command]]


def up(profile, domain=None):
    """Provisions the stack with its image (provision_with_image), boots its first instance from that
    image and puts the demo package through it. On the network use_network chose last: the rehearsal's
    tests choose "offline", so every boot of theirs happens without a way out."""
    start_emulator()
    start_imds()
    agent_debs()
    (STATE / "domain").unlink(missing_ok=True)
    if domain:
        ensure_zone(domain)
        start_acme_ca()
        (STATE / "domain").write_text(domain)
    provisioned = provision_with_image(profile)
    seconds = provisioned["provision_seconds"]
    log(f"site.yml -e profile={profile} against the emulator, the image's build included: {seconds:.0f} s")
    instance_id = asg_instance_ids()[0]
    name = INSTANCE_NAMES[0]
    healthy, https = boot(name, instance_id)
    log(f"instance {instance_id} booted from the launch template's user data, healthy after {healthy:.0f} s"
        + (f", HTTPS on 443 after {https:.0f} s" if domain else ""))
    upload_and_install(name)
    password_file = STATE / "password"
    if domain:
        fqdn, address = index_host(), INSTANCES[name][0]
        print(f"\nThe index serves https://{fqdn}/simple/ on {address}:443 with a certificate from Pebble "
              f"(user demo, password in {password_file}); Pebble's root: {trusted_root()}")
        print(f"  curl --cacert {trusted_root()} --resolve {fqdn}:443:{address} -u demo https://{fqdn}/simple/")
    else:
        address = "{}:{}".format(*index_address(name))
        print(f"\nThe index runs at http://{address}/simple/ (user demo, password in {password_file})")
        print(f"  pip install --index-url http://demo@{address}/simple/ privatepypi-demo")
        print(f"  twine upload --repository-url http://{address}/ -u demo dist/*")
    print("Take it down: scripts/demo.sh down")
    return dict(provisioned, boot_seconds=healthy, https_seconds=https, instance_id=instance_id)


def replace():
    """A second instance launched from the same template, on the same EFS stand-in, as the
    AutoScalingGroup launches a replacement. The first keeps running, so the two also show
    that what one instance receives the other lists."""
    _, template = launch_template_user_data()
    instance_id = aws("ec2").run_instances(
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    healthy, https = boot(INSTANCE_NAMES[1], instance_id)
    log(f"replacement {instance_id} healthy after {healthy:.0f} s"
        + (f", serves HTTPS after {https:.0f} s" if https is not None else ""))
    return {"boot_seconds": healthy, "https_seconds": https, "instance_id": instance_id}


def strict(**settings):
    """Changes the emulator's stand-in settings (tests/support/emulator.py, STRICT)."""
    request = urllib.request.Request(f"{EMULATOR_URL}/moto-api/privatepypi/strict", data=json.dumps(settings).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def build_image(instance_id, limit=900):
    """Plays a stack image's builder the role launched (tag Role=image-builder): a container of the
    base image boots the builder's own user data, read back from the emulator, on the project's
    network (its way out to Debian's mirror and the package index; the emulator and the metadata
    stand-in answer on this machine's address). Once it powered itself off, the container is
    captured (docker commit) and the instance stopped, which the role waits for before CreateImage."""
    ec2 = aws("ec2")
    raw = base64.b64decode(ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"])
    seed = STATE / BUILDER / "seed"
    seed.mkdir(parents=True, exist_ok=True)
    (seed / "user-data").write_bytes(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    (seed / "meta-data").write_text(f"instance-id: {instance_id}\nlocal-hostname: {BUILDER}\n")
    subprocess.run(["docker", "rm", "-f", BUILDER], capture_output=True)
    started = time.monotonic()
    run("docker", "create", "--name", BUILDER, "--hostname", BUILDER, "--network", "privatepypi",
        *container_options(), "-v", f"{seed}:/var/lib/cloud/seed/nocloud:ro", IMAGE, stdout=subprocess.DEVNULL)
    run("docker", "start", BUILDER, stdout=subprocess.DEVNULL)
    address = subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.Networks.privatepypi.IPAddress}}", BUILDER],
                             capture_output=True, text=True, check=True).stdout.strip()
    register_instance(address, instance_id)
    while subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", BUILDER], capture_output=True,
                         text=True).stdout.strip() == "true":
        if time.monotonic() - started > limit:
            subprocess.run(["docker", "exec", BUILDER, "tail", "-40", "/var/log/cloud-init-output.log"])
            raise SystemExit(f"the image builder {instance_id} did not power off within {limit} s")
        time.sleep(3)
    stamp = subprocess.run(["docker", "cp", f"{BUILDER}:/var/lib/privatepypi/package-set", "-"], capture_output=True)
    if stamp.returncode:
        raise SystemExit(f"the image builder {instance_id} powered off without its package set's stamp")
    built = f"{BUILT_IMAGE}:{instance_id}"
    run("docker", "commit", "-c", 'CMD ["/lib/systemd/systemd"]', BUILDER, built, stdout=subprocess.DEVNULL)
    run("docker", "rm", BUILDER, stdout=subprocess.DEVNULL)
    ec2.stop_instances(InstanceIds=[instance_id])
    seconds = time.monotonic() - started
    log(f"image builder {instance_id}: installed and powered off after {seconds:.0f} s, captured as {built}")
    return {"instance_id": instance_id, "image": built, "seconds": seconds}


def play_image_builders(stop, built):
    """While a run goes on: every builder the role launches is played by build_image (into built)."""
    ec2, seen = aws("ec2"), set()
    while not stop.is_set():
        reservations = ec2.describe_instances(Filters=[
            {"Name": "tag:Stack", "Values": [STACK]}, {"Name": "tag:Role", "Values": ["image-builder"]},
            {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
        for instance_id in [i["InstanceId"] for r in reservations for i in r["Instances"]]:
            if instance_id not in seen:
                seen.add(instance_id)
                try:
                    built.append(build_image(instance_id))
                except SystemExit as error:
                    built.append({"instance_id": instance_id, "error": str(error)})
        stop.wait(2)


def launch_template_image():
    """The image id the launch template's latest version boots."""
    _, template = launch_template_user_data()
    version = aws("ec2").describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Latest"])["LaunchTemplateVersions"][0]
    return version["LaunchTemplateData"]["ImageId"]


def instance_image():
    """The container image of the AMI the launch template boots: the stack's image, as its builder was
    captured here (AMI_IMAGE:<ami id>), or the base image (IMAGE) for an AMI that is not the stack's
    (a stack with aws_stack_image_enabled false boots Debian's)."""
    ami = launch_template_image()
    images = aws("ec2").describe_images(ImageIds=[ami])["Images"]
    if not any(t["Key"] == "Stack" and t["Value"] == STACK for i in images for t in i.get("Tags", [])):
        return IMAGE
    captured = f"{AMI_IMAGE}:{ami}"
    if subprocess.run(["docker", "image", "inspect", captured], capture_output=True).returncode:
        raise SystemExit(f"the launch template boots the stack image {ami}, whose builder was not captured here "
                         "(provision_with_image plays the builders)")
    return captured


def provision_with_image(profile):
    """site.yml, whose stack image is on by default (aws_stack_image_enabled): the builders it launches
    are played here (build_image); the captured container is tagged with the AMI id the launch template
    names. Returns the run's seconds, the builds, and that docker image."""
    strict(image_builder_seconds=-1)
    stop, built = threading.Event(), []
    player = threading.Thread(target=play_image_builders, args=(stop, built), daemon=True)
    player.start()
    try:
        seconds, recap = playbook("site.yml", profile)
    finally:
        stop.set()
        player.join()
    failed = [b["error"] for b in built if "error" in b]
    if failed:
        raise SystemExit("; ".join(failed))
    ami = launch_template_image()
    if built:
        run("docker", "tag", built[-1]["image"], f"{AMI_IMAGE}:{ami}")
    return {"provision_seconds": seconds, "builds": built, "ami": ami, "image": f"{AMI_IMAGE}:{ami}", "recap": recap}


def remove_captured_images():
    """Removes the captured builders and AMI images (docker)."""
    listed = subprocess.run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                            text=True).stdout.split()
    doomed = [i for i in listed if i.startswith((BUILT_IMAGE + ":", AMI_IMAGE + ":"))]
    if doomed:
        subprocess.run(["docker", "image", "rm", *doomed], capture_output=True)
    return doomed


RESTORE_DIR = "aws-backup-restore_2026-11-25T06-00-00-000Z"


def boot_on_restored_copy():
    """A third instance on a restored package file system, laid out as AWS Backup restores one
    into a new file system: the whole tree, owners and modes kept, in a directory
    aws-backup-restore_<time> at its root (playbooks/restore.yml then puts the stack on it)."""
    restored = STATE / "efs-restored"
    shutil.rmtree(restored, ignore_errors=True)
    restored.mkdir()
    run("cp", "-a", STATE / "efs", restored / RESTORE_DIR)
    instance_id = asg_instance_ids()[0]
    healthy, _ = boot(INSTANCE_NAMES[2], instance_id, efs=restored)
    log(f"instance on the restored copy healthy after {healthy:.0f} s")
    return {"boot_seconds": healthy, "root": sorted(p.name for p in restored.iterdir())}


def down(profile):
    for name in [*INSTANCE_NAMES, BUILDER]:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    if emulator_running():
        # teardown asks for the stack's name; nobody is there to type it
        seconds, output = playbook("playbooks/teardown.yml", profile, extra=("-e", f"confirm={STACK}"), full_output=True)
        removed = removed_by(output)
        log(f"teardown of {STACK}: {seconds:.0f} s, " + (
            "removed:\n  " + "\n  ".join(removed) if removed else "nothing was left to remove"))
    else:
        log(f"emulator not running on port {EMULATOR_PORT}: no stack to tear down (its state went with it)")
    domain = stack_domain()
    if domain and emulator_running():
        remove_zone(domain)
    for pidfile in (STATE / "imds.pid", STATE / "agents.pid"):
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), 15)
            except (OSError, ValueError):
                pass
            pidfile.unlink()
    _stop(STATE / "pebble.pid")
    _stop(STATE / "dns.pid")
    shutil.rmtree(PEBBLE, ignore_errors=True)
    (STATE / "domain").unlink(missing_ok=True)
    run("scripts/emulator.sh", "stop", EMULATOR_PORT)
    # the captured images go with the stack, as teardown deregisters its AMIs
    remove_captured_images()
    # Containers wrote the EFS stand-in as root-owned service users: remove it as root.
    shutil.rmtree(STATE / "efs", ignore_errors=True)
    shutil.rmtree(STATE / "efs-restored", ignore_errors=True)
    (STATE / "instances.json").unlink(missing_ok=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "replace", "down"])
    parser.add_argument("--profile", default="budget")
    parser.add_argument("--domain", help="up: budget with this domain, HTTPS with a certificate from Pebble")
    args = parser.parse_args()
    if args.action == "up":
        up(args.profile, args.domain)
    elif args.action == "replace":
        replace()
    else:
        down(args.profile)


if __name__ == "__main__":
    main()
