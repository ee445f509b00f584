"""Source adapters, one module per source dataset: fetch what a source publishes by URL (`fetch`, `youtube`), and
parse its published annotation files (and, for sources made from annotations, the evidence the annotate stage left)
into item drafts (`stage`), with the wrong-option pools (`pools`), `sources check` and `sources scan`. An adapter
made from annotations lists its annotation steps (`SourceAdapter.steps`), which the annotate stage runs first."""

from __future__ import annotations

from humansense.sources.activitynet import ActivityNetAdapter
from humansense.sources.ava import AvaAdapter
from humansense.sources.base import ParseResult, RecordError, SourceAdapter
from humansense.sources.celebvhq import CelebvhqAdapter
from humansense.sources.efaqa import EfaqaAdapter
from humansense.sources.jester import JesterAdapter
from humansense.sources.realtalk import RealtalkAdapter
from humansense.sources.seumld import SeumldAdapter
from humansense.sources.skindeep import SkindeepAdapter
from humansense.sources.tao import TaoAdapter
from humansense.sources.telecom_fraud import TelecomFraudAdapter
from humansense.sources.ucf_crime import UcfCrimeAdapter

ADAPTERS: dict[str, type[SourceAdapter]] = {
    a.name: a for a in (CelebvhqAdapter, AvaAdapter, JesterAdapter, ActivityNetAdapter, UcfCrimeAdapter, TaoAdapter,
                        SkindeepAdapter, TelecomFraudAdapter, EfaqaAdapter, SeumldAdapter,
                        RealtalkAdapter)
}


def adapter_class(name: str) -> type[SourceAdapter]:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(sorted(ADAPTERS))}") from None


__all__ = ["ADAPTERS", "ParseResult", "RecordError", "SourceAdapter", "adapter_class"]
