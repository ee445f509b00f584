"""`humansense score`: a model's outputs scored by the authors' rules (and ours)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from humansense.cli.common import console, print_table


def score(
    predictions: Annotated[Path, typer.Argument(help="The authors' result file (their JSON with the model's outputs), "
                                                     "or JSONL of {id, output}.")],
    release: Annotated[Optional[Path], typer.Option(
        "--release", help="Release folder whose eval split JSONL predictions answer (default build/release); "
                          "the authors' result files carry their answers and need none.")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", help="Key of the model's outputs (the authors' evaluation writes them under the model's name); "
                        "found without it when each record has one such key.")] = None,
    save: Annotated[Optional[Path], typer.Option(
        "--save", help="Also write the strict scores as the authors' scorer saves them (task_type -> total, "
                       "correct, accuracy; and all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Accuracy per task, question-weighted all, levels, Avg. (13 video tasks) and Avg.* (all 15): strict (the
    authors' rules) and lenient."""
    from humansense.release.score import authors_stats, load_questions, score_questions

    try:
        questions, read = load_questions(predictions, release or Path("build/release"), model)
    except (ValueError, FileNotFoundError) as e:
        console.print(f"[red]{e}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    result = score_questions(questions) | read
    if save is not None:
        save.write_text(json.dumps(authors_stats(result), indent=4))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    source = f"model {read['model']!r}" if read["model"] else "outputs"
    table = Table(title=f"{source} in {predictions.name}: strict = the authors' rules, lenient = ours")
    for col in ("task", "task_type", "questions", "left out", "strict", "lenient"):
        table.add_column(col, justify="left" if col.startswith("task") else "right")
    fmt = lambda x: "-" if x is None else repr(x)  # noqa: E731 - every digit, as the authors' scorer saves them
    for name, r in result["tasks"].items():
        table.add_row(name, r["task_type"], str(r["questions"]), str(r["left_out"]), fmt(r["strict"]),
                      fmt(r["lenient"]))
    for key in ("all", "L1", "L2", "L3", "L4", "Avg.", "Avg.*"):
        table.add_row(f"[b]{key}[/b]", "", "", "", fmt(result["summary"]["strict"][key]),
                      fmt(result["summary"]["lenient"][key]))
    print_table(table, 120)
    console.print(f"Avg. = mean of the {result['video_tasks']} video tasks' accuracies, Avg.* of all tasks "
                  f"(unweighted); all = question-weighted; left out = empty or missing outputs (strict only; "
                  f"lenient counts them wrong)")
    if result["skipped"]:
        console.print("skipped as the authors' scorer does: "
                      + ", ".join(f"{k} ({v})" for k, v in result["skipped"].items()))
    if result["tasks_missing"]:
        console.print(f"tasks absent: {', '.join(result['tasks_missing'])} (averages use the rest)")
    if result["unknown_ids"]:
        console.print(f"[yellow]{len(result['unknown_ids'])} predictions match no eval question[/yellow]")

