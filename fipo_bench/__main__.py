import sys

from fipo_bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
