"""A Python interpreter for the modules the test playbooks run on the controller, with boto3 imported once.

Every AWS module task of a playbook starts a new Python that imports boto3 and botocore before it does
anything (0.3-0.5 CPU seconds of the 1.0-1.4 a task costs, measured 2026-12-07); the integration suite runs
some thousands of them. `serve` imports those libraries once and then forks a child per module run: the
child takes the caller's standard streams, directory, environment and arguments and runs the module file
(or, with pipelining, the code on its standard input) as `python` would. The module itself, its
AnsiballZ wrapper and everything it imports from its own payload run unchanged; only third-party
libraries the venv holds anyway, and ansible's module runner (the ansible-core the payloads are built
from: the same files), are already in memory. Nothing of a run survives into the next: each
child is a fresh fork of a server that never runs a module.

`client` is what ansible_python_interpreter names (the executable wrapper `warm-python` beside this
file): it passes its streams to the server over a Unix socket (SCM_RIGHTS) and exits with the child's
status. Without a server (WARM_PYTHON_SOCKET unset or nobody listening) it becomes the venv's Python.
"""
import array
import json
import os
import socket
import struct
import sys
import types

# the libraries worth having in memory: what amazon.aws and community.aws modules import first
PRELOADED = ("boto3", "boto3.session", "botocore", "botocore.session", "botocore.client", "botocore.config",
             "botocore.exceptions", "botocore.waiter", "botocore.paginate", "botocore.credentials",
             "botocore.httpsession", "botocore.parsers", "botocore.serialize", "botocore.retries.standard",
             "botocore.regions", "botocore.endpoint_provider", "dateutil.tz", "urllib3", "jmespath")
# ansible's own module runner, which every payload imports first (0.09 CPU s a module run, 2026-12-07):
# module_utils.basic and what it imports, from the ansible-core the payloads are built from
PRELOADED_MODULE_RUNNER = ("ansible.module_utils._internal._ansiballz._loader",)
# the AWS services the roles' modules call: their models read and parsed once (_share_botocore_data)
PRELOADED_SERVICES = ("ec2", "autoscaling", "elbv2", "iam", "sts", "ssm", "efs", "backup", "acm", "route53",
                      "cloudwatch", "sns", "logs", "s3", "kms", "resourcegroupstaggingapi")
# the collections whose modules and module_utils the payloads carry: compiled once (_share_compiled_sources)
PRECOMPILED_COLLECTIONS = ("amazon.aws", "community.aws", "privatepypi.aws")
SOCKET_ENV = "WARM_PYTHON_SOCKET"
_STATUS = struct.Struct("!i")


def _send(sock, payload, fds):
    sock.sendmsg([struct.pack("!I", len(payload))], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    sock.sendall(payload)


def _receive(conn):
    fds = array.array("i")
    header, ancillary, _flags, _addr = conn.recvmsg(4, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    (size,) = struct.unpack("!I", header)
    payload = b""
    while len(payload) < size:
        chunk = conn.recv(size - len(payload))
        if not chunk:
            raise EOFError("the caller left before it sent its request")
        payload += chunk
    return payload, list(fds)


def _encode(argv, cwd, environ):
    # JSON: any byte in an argument or a value arrives as sent (undecodable ones as surrogates, escaped)
    return json.dumps([cwd, list(argv), dict(environ)]).encode("ascii")


def _decode(payload):
    cwd, argv, environ = json.loads(payload.decode("ascii"))
    return cwd, argv, environ


def _become_python(argv):
    os.execv(sys.executable, [sys.executable, *argv])  # noqa: S606 - the venv's Python, with the caller's arguments


def client(argv):
    """Runs `python ARGS...` in a child of the server; its exit status becomes this process's."""
    path = os.environ.get(SOCKET_ENV)
    if not path or not os.path.exists(path) or (argv[:1] not in ([], ["-"]) and argv[0].startswith("-")):
        # no server, or options this runner does not take (python -c, -m ...): the interpreter itself
        _become_python(argv)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        _become_python(argv)
    _send(sock, _encode(argv, os.getcwd(), dict(os.environ)), [0, 1, 2])
    status = b""
    while len(status) < _STATUS.size:
        chunk = sock.recv(_STATUS.size - len(status))
        if not chunk:
            sys.stderr.write("warm-python: the module's process ended without a status\n")
            return 1
        status += chunk
    return _STATUS.unpack(status)[0]


def _run_in_child(conn, server):
    """In the forked child: become the caller's `python ARGS`, then report the status and leave."""
    server.close()
    payload, fds = _receive(conn)
    cwd, argv, environ = _decode(payload)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environ)
    status = 0
    try:
        import runpy
        if argv and argv[0] != "-":
            sys.argv = list(argv)
            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
            runpy.run_path(argv[0], run_name="__main__")
        else:  # pipelining: the module's code comes on standard input, run in a new __main__
            import types
            sys.argv = [""]
            sys.path[0] = ""
            main = types.ModuleType("__main__")
            sys.modules["__main__"] = main
            exec(compile(sys.stdin.read(), "<stdin>", "exec"), main.__dict__)  # noqa: S102 - what `python -` does
    except SystemExit as leaving:
        code = leaving.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code
        else:
            sys.stderr.write(f"{code}\n")
            status = 1
    except BaseException:  # noqa: BLE001 - python prints any uncaught exception and exits 1
        import traceback
        traceback.print_exc()
        status = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        try:
            conn.sendall(_STATUS.pack(status))
        finally:
            os._exit(status)


def _once_per_search_paths(method, copy=lambda answer: answer):
    """A Loader method(loader, argument) answered once per search paths and argument; each caller gets
    copy(answer)."""
    answers = {}

    def once(loader, argument):
        key = (tuple(loader.search_paths), argument)
        if key not in answers:
            answers[key] = method(loader, argument)
        return copy(answers[key])

    return once


def _share_botocore_data():
    """Every botocore client parses its service's model, the endpoints and the partitions from botocore's
    JSON files again (an EC2 client: 0.25 CPU s, 0.06 with them parsed; 2026-12-07). The files are the
    same for every run: the server parses them once, for the services the modules call, and each child
    is given the parsed data (its own copy on write: a change it makes never reaches the server)."""
    import boto3
    import botocore.loaders

    loader = botocore.loaders.Loader
    loader.load_data_with_path = _once_per_search_paths(loader.load_data_with_path)
    # and the list of services each new client checks its name against, which lists botocore's
    # data directory and looks for each of its 400 services' files (0.02 CPU s a client)
    loader.list_available_services = _once_per_search_paths(loader.list_available_services, copy=list)
    for service in PRELOADED_SERVICES:
        boto3.session.Session().client(service, region_name="us-east-1")


def _source_directories():
    """Where the sources of the modules' payloads come from: ansible's module_utils and modules, and the
    plugins of the collections the roles call (the checkout's own through .collections, as the runs load it)."""
    import ansible

    site = os.path.dirname(os.path.dirname(ansible.__file__))
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    yield os.path.join(site, "ansible", "module_utils")
    yield os.path.join(site, "ansible", "modules")
    for collection in PRECOMPILED_COLLECTIONS:
        for plugins in (os.path.join(site, "ansible_collections", *collection.split("."), "plugins"),
                        os.path.join(checkout, ".collections", "ansible_collections", *collection.split("."), "plugins")):
            yield os.path.join(plugins, "module_utils")
            yield os.path.join(plugins, "modules")


def _renamed(code, filename):
    """code, and every code object inside it, as compiled from filename."""
    consts = tuple(_renamed(const, filename) if isinstance(const, types.CodeType) else const for const in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _share_compiled_sources():
    """A module's payload is a zip of the module and the module_utils it imports, which Python compiles
    from source on every import (zipimport keeps no bytecode): 0.1-0.2 CPU s of each module run (an
    amazon.aws module's 77 files, 2026-12-07). The server compiles each source file the payloads take
    their copies from once (about 1 CPU s); a child importing a file whose bytes are the same is given
    that code, under the name the import gives it. Anything else compiles as before."""
    import zipimport

    compiled = {}
    for directory in _source_directories():
        for root, _dirs, names in os.walk(directory):
            for name in names:
                if not name.endswith(".py"):
                    continue
                with open(os.path.join(root, name), "rb") as handle:
                    source = handle.read()
                try:
                    compiled[source] = zipimport._compile_source("<precompiled>", source)
                except (SyntaxError, ValueError):
                    continue
    compile_source = zipimport._compile_source

    def compile_once(pathname, source):
        code = compiled.get(source)
        return compile_source(pathname, source) if code is None else _renamed(code, pathname)

    zipimport._compile_source = compile_once


def serve(path):
    """Imports PRELOADED, parses the services' models (_share_botocore_data) and compiles the payloads'
    sources (_share_compiled_sources), then forks a child for each caller, until killed or its parent
    (the test process that started it) is gone."""
    import importlib
    import signal

    parent = os.getppid()
    for name in PRELOADED + PRELOADED_MODULE_RUNNER:
        importlib.import_module(name)
    _share_botocore_data()
    _share_compiled_sources()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel; callers get their status
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    server.settimeout(5)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while os.getppid() == parent:
        try:
            conn, _addr = server.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        if os.fork() == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the module may wait on its own children
            _run_in_child(conn, server)
        conn.close()
    os.unlink(path)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
    else:
        sys.exit(client(sys.argv[1:]))
