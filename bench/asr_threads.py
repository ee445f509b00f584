"""Does the ASR engine's thread count change transcript quality? The same long recordings (24 espeak-ng sentences
in two alternating voices, 0.7 s apart: about 80 s each) transcribed with `[annotators.asr] cpu_threads` 1 and 2,
each count in a fresh process with its BLAS and OpenMP pools pinned as a worker pins them; word error rate against
the script and segment counts.

    .venv/bin/python bench/asr_threads.py [--recordings 3]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

WORDS = "the a house river morning teacher window garden friend market letter yellow quiet sudden travel evening " \
        "kitchen".split()
VERBS = "walked found opened carried painted watched remembered bought cleaned followed".split()

ONE = """
import json, sys
from pathlib import Path
threads = int(sys.argv[1])
from humansense.annotators.registry import pin_threads
pin_threads(threads)
import jiwer
from humansense.annotators.asr import make_engine, transcribe
from humansense.annotators.base import AnnotationCache
norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
engine = make_engine(threads=threads)
out = {}
for name, sentences in json.loads(Path(sys.argv[2]).read_text()).items():
    result = transcribe(Path(name), engine, AnnotationCache(None))
    out[name] = {"segments": len(result.segments), "wer": jiwer.wer(norm(" ".join(sentences)), norm(result.text))}
print(json.dumps(out))
"""


def recordings(folder: Path, count: int, seed: int = 3) -> Path:
    rng = random.Random(seed)
    silence = folder / "silence.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono", "-t", "0.7",
                    str(silence)], check=True)
    truth = {}
    for k in range(count):
        sentences = [f"The {rng.choice(WORDS)} {rng.choice(VERBS)} the {rng.choice(WORDS)} near the "
                     f"{rng.choice(WORDS)}." for _ in range(24)]
        listing = []
        for j, sentence in enumerate(sentences):
            part = folder / f"r{k}-{j}.wav"
            subprocess.run(["espeak-ng", "-s", "150", "-v", ["en-us", "en-gb"][j % 2], "-w", str(part), sentence],
                           check=True)
            listing += [f"file '{part}'", f"file '{silence}'"]
        (folder / f"r{k}.txt").write_text("\n".join(listing) + "\n")
        recording = folder / f"recording{k}.wav"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(folder / f"r{k}.txt"),
                        str(recording)], check=True)
        truth[str(recording)] = sentences
    (folder / "truth.json").write_text(json.dumps(truth))
    return folder / "truth.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recordings", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hs-asr-threads-"))
    truth = recordings(folder, args.recordings)
    results = {}
    for threads in (1, 2):
        run = subprocess.run([sys.executable, "-c", ONE, str(threads), str(truth)], capture_output=True, text=True,
                             check=True)
        results[threads] = json.loads(run.stdout.strip().splitlines()[-1])
        wers = [r["wer"] for r in results[threads].values()]
        print(f"cpu_threads {threads}: WER {', '.join(f'{w:.3f}' for w in wers)} (mean {sum(wers) / len(wers):.3f}); "
              f"segments {', '.join(str(r['segments']) for r in results[threads].values())}")


if __name__ == "__main__":
    main()
