"""Compiled Jinja templates kept between the tests' playbook runs: tests/support/fast_ansible.py says why.

ansible-core 2.19 compiles every template it meets (a task's arguments, a conditional's string, each
file a template lookup renders) to Python again in each worker it forks for a task, and the worker
exits with it: a budget re-run spent 16% of its controller's CPU there (py-spy, 2026-12-07). The
tests run the same playbooks hundreds of times, so install() makes jinja2's Environment.compile keep
each code object it compiles from a string in a directory, and take it from there the next time.

The key is everything the code depends on: the template's text and names, the environment's class
and syntax settings, Ansible's compile-time switches (escaped backslashes, embedded templates), and
the versions of Python (marshal's format), Jinja and the sources (the directory's name, chosen by
playbook_shared_payloads.py: ansible-core, the collections, this checkout's plugins, which decide how
a filter or test is called). Entries are written whole (a rename), so runs may share the directory
at once. A template that does not compile is compiled, and fails, every time.
"""
import hashlib
import marshal
import os
import sys

# the Environment attributes that change the code a template compiles to
SETTINGS = ("block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
            "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
            "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "optimized", "is_async",
            "autoescape", "sandboxed", "intercepted_binops", "intercepted_unops")


def _ansible_switches():
    """Ansible's compile-time switches, read where the compile happens (None outside ansible)."""
    try:
        from ansible._internal._templating._jinja_bits import _TemplateCompileContext, _TemplateConfig
    except ImportError:
        return None
    context = _TemplateCompileContext.current(optional=True)
    return (getattr(context, "escape_backslashes", None), _TemplateConfig.allow_embedded_templates)


def _describe(value):
    """A setting as text that is the same in every process (a function by its name, not its address)."""
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__qualname__)}"
    if isinstance(value, (set, frozenset)):
        return repr(sorted(value))
    return repr(value)


def key(environment, source, name, filename, defer_init):
    """The entry's file name for this compile."""
    import jinja2

    kind = type(environment)
    parts = [sys.version, jinja2.__version__, f"{kind.__module__}.{kind.__qualname__}",
             _describe(getattr(environment, "code_generator_class", None)),
             *(_describe(getattr(environment, setting, None)) for setting in SETTINGS),
             _describe(getattr(environment, "finalize", None)), repr(sorted(environment.extensions)),
             repr(_ansible_switches()), repr(name), repr(filename), repr(defer_init), source]
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def install(directory):
    """jinja2.Environment.compile, for sources given as text, through the cache in directory."""
    import jinja2

    original = jinja2.Environment.compile
    if getattr(original, "cache_directory", None) == str(directory):
        return
    os.makedirs(directory, exist_ok=True)

    def compile_through_cache(self, source, name=None, filename=None, raw=False, defer_init=False):
        # raw asks for the Python text, a node comes from an expression already parsed (not worth a
        # key), and a debuggable source embeds a temporary file of this process
        if raw or not isinstance(source, str) or getattr(self, "_debuggable_template_source", False):
            return original(self, source, name, filename, raw, defer_init)
        path = os.path.join(directory, key(self, str(source), name, filename, defer_init))
        try:
            with open(path, "rb") as entry:
                return marshal.load(entry)  # noqa: S302 (written by the tests' own runs, as the payloads beside it)
        except (OSError, EOFError, ValueError, TypeError):
            pass
        code = original(self, source, name, filename, raw, defer_init)
        partial = f"{path}.{os.getpid()}.partial"
        try:
            with open(partial, "wb") as entry:
                marshal.dump(code, entry)
            os.replace(partial, path)
        except OSError:  # a full or read-only disk costs the next run the compile, nothing else
            pass
        return code

    compile_through_cache.cache_directory = str(directory)
    jinja2.Environment.compile = compile_through_cache
