"""Print, one per line, the uv options that carry this machine's pip configuration (indexes, find-links,
constraints), so that scripts/setup.sh and scripts/lock.sh install and resolve where pip would.

uv reads no pip.conf. `--index-strategy unsafe-best-match` gives pip's rule (the best version across every index);
uv's default would take a package only from the first index that has it.
"""

import subprocess
import sys

OPTIONS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links",
           "constraint": "--constraint"}


def pip_config() -> list[tuple[str, str]]:
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    pairs = []
    for line in listed.splitlines():  # "global.find-links='/opt/wheels'" or ":env:.find-links='...'"
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        if name in OPTIONS:
            pairs += [(name, v) for v in value.strip("'\"").split()]
    return pairs


def uv_args(pairs: list[tuple[str, str]], *, constraints: bool) -> list[str]:
    args, seen = ["--index-strategy", "unsafe-best-match"], set()
    for name, value in pairs:
        if (name, value) in seen or (name == "constraint" and not constraints):
            continue
        seen.add((name, value))
        args += [OPTIONS[name], value]
    return args


if __name__ == "__main__":
    print("\n".join(uv_args(pip_config(), constraints="--no-constraints" not in sys.argv)))
