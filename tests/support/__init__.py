"""Test doubles of this repository, importable as ``tests.support`` (from the checkout's root) or as
``ansible_collections.privatepypi.aws.tests.support`` (unit tests):

- ``emulator``: moto's server plus the gaps the amazon.aws / community.aws modules hit;
- ``imds_standin``: an EC2 instance metadata service (IMDSv2) for the rehearsal's containers;
- ``rehearse``: the rehearsal library (provision against the emulator, boot instance containers).

The emulator patches moto's classes and was written against one moto version: ``require_moto``
refuses any other, with a clear message, instead of patching what it does not know.
"""

MOTO_VERSION = "5.2.5"


def require_moto():
    """Fail clearly unless the installed moto is the one the emulator's patches were written for."""
    try:
        import moto
    except ImportError as error:
        raise RuntimeError(f"tests.support needs moto {MOTO_VERSION} (pip install 'moto[server]=={MOTO_VERSION}')") from error
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"tests.support.emulator patches moto {MOTO_VERSION}, but moto {moto.__version__} is installed: "
            f"install moto=={MOTO_VERSION} (scripts/setup.sh does), or check every patch against the new version first")
    return moto.__version__
