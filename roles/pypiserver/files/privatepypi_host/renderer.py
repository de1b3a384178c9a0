"""Renders the store's simple index (PEP 503 HTML, PEP 691 JSON, gzip copies) for nginx.

Polled, not watched: inotify misses files other NFS clients write; directory mtimes do not.
"""

import argparse
import gzip
import html
import json
import logging
import os
import shutil
import time

from packaging.version import InvalidVersion, Version

from privatepypi_host import notify, store

LOG = logging.getLogger("pypiserver-index")
FULL_RESCAN_SECONDS = 60
HEARTBEAT_SECONDS = 5
API_VERSION = "1.1"
PAGE = ('<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="' + API_VERSION + '">\n'
        "    <title>{title}</title>\n  </head>\n  <body>\n    <h1>{title}</h1>\n{links}  </body>\n</html>\n")


def _version_key(version):
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (-1, version)


def project_pages(project, files):
    files = sorted(files, key=lambda f: f["filename"])
    links, entries = [], []
    for f in files:
        url = f.get("url") or "../../packages/" + f["relpath"]  # upstream files: their own path
        attributes = [("href", url + "#sha256=" + f["sha256"])]
        if f.get("requires-python"):
            attributes.append(("data-requires-python", f["requires-python"]))
        if f.get("metadata-sha256"):
            attributes.append(("data-dist-info-metadata", "sha256=" + f["metadata-sha256"]))
            attributes.append(("data-core-metadata", "sha256=" + f["metadata-sha256"]))
        yanked = f.get("yanked") or False  # True, or the reason
        if yanked is not False:
            attributes.append(("data-yanked", "" if yanked is True else str(yanked)))
        links.append("    <a {}>{}</a><br>\n".format(
            " ".join(f'{k}="{html.escape(v)}"' for k, v in attributes), html.escape(f["filename"])))
        metadata = {"sha256": f["metadata-sha256"]} if f.get("metadata-sha256") else False
        # JSON carries PEP 714's key only, as the public index does: pip 23.0 (Debian 12's own)
        # reads the old "dist-info-metadata" key and fails on its hash dict (TypeError), while it
        # ignores "core-metadata". The HTML attribute under the old name is a plain string, which
        # pip 23.0 reads correctly, so the page keeps both.
        entry = {
            "filename": f["filename"], "url": url, "hashes": {"sha256": f["sha256"]},
            "requires-python": f.get("requires-python"), "core-metadata": metadata,
            "yanked": yanked, "size": f.get("size"), "upload-time": f.get("upload-time"),
        }
        # an upstream page may lack PEP 700's fields; private files always have them
        entries.append({k: v for k, v in entry.items() if v is not None or k == "requires-python"})
    versions = sorted({f["version"] for f in files}, key=_version_key)
    page = PAGE.format(title="Links for " + html.escape(project), links="".join(links))
    document = {"meta": {"api-version": API_VERSION}, "name": project, "files": entries, "versions": versions}
    return page, json.dumps(document, separators=(",", ":"))


def root_pages(projects):
    links = "".join('    <a href="{0}/">{0}</a><br>\n'.format(html.escape(p)) for p in projects)
    document = {"meta": {"api-version": API_VERSION}, "projects": [{"name": p} for p in projects]}
    return PAGE.format(title="Simple Index", links=links), json.dumps(document, separators=(",", ":"))


class Renderer:
    def __init__(self, root, output):
        self.root = root
        self.output = os.path.join(output, "simple")
        self.status_path = os.path.join(output, "status.json")
        self.meta_dir = store.paths(root)[0]
        self._files = {}  # relpath -> (file inode, sidecar inode, sidecar)
        self._pages = {}  # page directories written (the root's: its project names)
        self._retry = set()  # projects whose pages could not be written
        self._reported = set()  # problems already logged once
        self._directories = [root, self.meta_dir]
        self.errors = 0
        self.ready = False
        self.counts = (0, 0)

    def _once(self, key, message, *args):
        if key not in self._reported:
            self._reported.add(key)
            LOG.warning(message, *args)

    def _scan(self, top, skip_dots, suffix=""):
        # DirEntry gives inodes without a stat call: 100,000 files cost one directory listing.
        found, directories, stack = {}, [top], [(top, "")]
        while stack:
            path, prefix = stack.pop()
            try:
                with os.scandir(path) as entries:
                    for entry in entries:
                        if skip_dots and entry.name.startswith("."):
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            stack.append((entry.path, prefix + entry.name + "/"))
                            directories.append(entry.path)
                        elif entry.name.endswith(suffix) and entry.is_file():
                            found[prefix + entry.name] = entry.inode()
            except OSError as error:
                if path == top and isinstance(error, FileNotFoundError):
                    continue
                self._once(("dir", path), "cannot list %s: %s", path, error)
        return found, directories

    def signature(self):
        result = []
        for path in self._directories:
            try:
                result.append(os.stat(path).st_mtime_ns)
            except OSError:
                result.append(None)
        return result

    def _sidecar(self, known, relpath, inode, sidecar_inode, heartbeat):
        """(file inode, sidecar inode, sidecar): the cached entry while neither inode changed."""
        if known and known[0] == inode and known[1] == sidecar_inode and sidecar_inode is not None:
            return known
        try:
            relpath.encode("utf-8")
        except UnicodeEncodeError:
            self._once(("name", relpath), "skipping a file whose name is not UTF-8: %r", relpath)
            return None
        try:
            store.parse_filename(os.path.basename(relpath))
        except store.InvalidDistribution:
            return None  # not a distribution (README, stray file): never listed
        heartbeat()
        try:
            sidecar = store.ensure_sidecar(self.root, relpath)
        except FileNotFoundError:
            return None  # removed while we looked
        except store.InvalidDistribution as error:
            self._once(("invalid", relpath, inode), "not listing %s: %s", relpath, error)
            return None
        except OSError as error:
            self.errors += 1
            self._once(("read", relpath, inode), "not listing %s: %s", relpath, error)
            return None
        try:
            sidecar_inode = os.stat(store.sidecar_path(self.root, relpath)).st_ino
        except OSError:
            sidecar_inode = None
        return inode, sidecar_inode, dict(sidecar, relpath=relpath)

    def _write_pages(self, directory, pages, key=True):
        try:
            for name, content in zip(("index.html", "index.json"), pages, strict=True):
                data = content.encode("utf-8")
                store.write_atomic(os.path.join(directory, name + ".gz"), gzip.compress(data, 6, mtime=0), durable=False)
                store.write_atomic(os.path.join(directory, name), data, durable=False)
        except OSError as error:  # a full disk: other pages stay current, retried next pass
            self.errors += 1
            LOG.error("cannot write %s: %s", directory, error)
            return 0
        self._pages[directory] = key
        return 1

    def _remove_pages(self, directory):
        self._pages.pop(directory, None)
        shutil.rmtree(directory, ignore_errors=True)

    def adopt_existing(self):
        try:
            with os.scandir(self.output) as entries:
                for entry in entries:
                    if entry.is_dir():
                        self._pages[entry.path] = None
        except FileNotFoundError:
            pass

    def render(self, heartbeat=lambda: None):
        files, directories = self._scan(self.root, skip_dots=True)
        sidecars, meta_directories = self._scan(self.meta_dir, skip_dots=False, suffix=".json")
        self._directories = directories + meta_directories
        # Only the pages of projects with a new, changed or vanished file are rebuilt.
        projects, dirty, old, self._files = {}, self._retry, self._files, {}
        for count, (relpath, inode) in enumerate(files.items()):
            if count % 5000 == 0:
                heartbeat()
            known = old.pop(relpath, None)
            entry = self._sidecar(known, relpath, inode, sidecars.get(relpath + ".json"), heartbeat)
            if entry is not known:
                dirty.update(e[2]["project"] for e in (known, entry) if e)
            if entry:
                self._files[relpath] = entry
                projects.setdefault(entry[2]["project"], []).append(entry[2])
        dirty.update(e[2]["project"] for e in old.values())
        changed, self._retry = 0, set()
        for project in dirty & projects.keys():
            heartbeat()  # a first render writes every page: minutes on a large store
            if self._write_pages(os.path.join(self.output, project), project_pages(project, projects[project])):
                changed += 1
            else:
                self._retry.add(project)
        names = sorted(projects)
        if self._pages.get(self.output) != names:
            changed += self._write_pages(self.output, root_pages(names), names)
        for directory in [d for d in self._pages if d != self.output and os.path.basename(d) not in projects]:
            self._remove_pages(directory)
            changed += 1
        self.counts = (len(projects), sum(len(v) for v in projects.values()))
        return len(projects), changed

    def write_status(self):
        status = {"ready": self.ready, "heartbeat": int(time.time()), "errors": self.errors,
                  "projects": self.counts[0], "files": self.counts[1]}
        try:
            store.write_atomic(self.status_path, json.dumps(status).encode(), durable=False)
        except OSError as error:
            LOG.error("cannot write the status file: %s", error)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    renderer = Renderer(args.packages, args.output)
    renderer.adopt_existing()
    renderer.write_status()
    # Boot does not wait for a large store: /health answers 503 until the first render.
    notify("READY=1\nSTATUS=first render of the store")

    def heartbeat():
        notify("WATCHDOG=1")

    last_signature, last_full, last_status = None, 0.0, 0.0
    while True:
        heartbeat()
        signature = renderer.signature()
        now = time.monotonic()
        if signature != last_signature or now - last_full > FULL_RESCAN_SECONDS:
            started = time.monotonic()
            projects, changed = renderer.render(heartbeat)
            took = time.monotonic() - started
            if not renderer.ready:
                renderer.ready = True
                LOG.info("first render: %d projects, %d files in %.3fs", projects, renderer.counts[1], took)
            elif changed:
                LOG.info("%d projects, %d pages updated in %.3fs", projects, changed, took)
            notify(f"STATUS={projects} projects, {renderer.counts[1]} files, {renderer.errors} errors")
            last_signature, last_full = signature, now
            renderer.write_status()
            last_status = now
        elif now - last_status > HEARTBEAT_SECONDS:
            renderer.write_status()
            last_status = now
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
