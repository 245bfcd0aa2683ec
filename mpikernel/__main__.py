"""`python -m mpikernel`: placeholder until the kernel CLI lands (issue 5); `info` works now."""

import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["info"]:
        from .info import main as info_main

        return info_main(argv[1:])
    print("usage: python -m mpikernel info", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
