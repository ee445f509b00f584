"""Write the generated references, docs/config.md and docs/cli.md, from the code (`humansense/doc_reference.py`).

    .venv/bin/python scripts/gen_reference.py
"""

from pathlib import Path

from humansense.doc_reference import write_references

if __name__ == "__main__":
    for path in write_references(Path(__file__).resolve().parents[1]):
        print(path)
