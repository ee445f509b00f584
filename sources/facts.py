"""What each source dataset is and what its terms allow (from each dataset's card and licence): the card lists all
eleven, and a release
publishes a source's clips only where its licence lets media be redistributed; otherwise the release keeps a
reference (source file, span, crop) that `humansense media materialize` cuts from the user's own copy.

`texts`: whether the source's texts may be published verbatim. Where they may not (EFAQA's licence forbids it; the
fraud texts state no licence, so they are treated as research-only), the release carries only our English rendering
(translation and synthetic speech), never the Chinese originals.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceFacts:
    title: str
    homepage: str
    licence: str
    citation: str
    media: bool  # clips may be redistributed
    texts: bool  # source texts may be published verbatim


FACTS: dict[str, SourceFacts] = {
    "celebvhq": SourceFacts(
        "CelebV-HQ", "https://github.com/CelebV-HQ/CelebV-HQ",
        "non-commercial research only; the agreement forbids copying, publishing or distributing any portion",
        "Zhu et al., CelebV-HQ: A Large-Scale Video Facial Attributes Dataset, ECCV 2022", media=False, texts=True),
    "ava": SourceFacts(
        "AVA Actions v2.2", "https://research.google.com/ava/",
        "annotations CC BY 4.0; the videos are third-party films hosted by CVDF, not redistributable",
        "Gu et al., AVA: A Video Dataset of Spatio-temporally Localized Atomic Visual Actions, CVPR 2018",
        media=False, texts=True),
    "jester": SourceFacts(
        "20BN-Jester v1", "https://developer.qualcomm.com/software/ai-datasets/jester",
        "20BN/Qualcomm research licence: registration, non-commercial, no redistribution",
        "Materzynska et al., The Jester Dataset: A Large-Scale Video Dataset of Human Gestures, ICCVW 2019",
        media=False, texts=True),
    "activitynet": SourceFacts(
        "ActivityNet Captions", "https://cs.stanford.edu/people/ranjaykrishna/densevid/",
        "no explicit licence; the videos are YouTube content, not redistributable",
        "Krishna et al., Dense-Captioning Events in Videos, ICCV 2017", media=False, texts=True),
    "ucf_crime": SourceFacts(
        "UCF-Crime", "https://www.crcv.ucf.edu/projects/real-world/",
        "research use; no formal licence file; surveillance footage of third parties",
        "Sultani et al., Real-world Anomaly Detection in Surveillance Videos, CVPR 2018", media=False, texts=True),
    "tao": SourceFacts(
        "TAO", "https://taodataset.org/",
        "annotations MIT; frames keep their source datasets' licences (AVA, HACS, Charades, BDD, ...)",
        "Dave et al., TAO: A Large-Scale Benchmark for Tracking Any Object, ECCV 2020", media=False, texts=True),
    "skindeep": SourceFacts(
        "The Skin Deep {THE AND}", "https://www.youtube.com/c/TheSkinDeep",
        "videos (c) The Skin Deep under YouTube's terms; not redistributable",
        "The Skin Deep, {THE AND} series (YouTube)", media=False, texts=True),
    "realtalk": SourceFacts(
        "RealTalk", "https://huggingface.co/datasets/scottgeng00/realtalk",
        "apache-2.0 as released on the Hub (the videos are The Skin Deep's; RealTalk's claim)",
        "Geng et al., Affective Faces for Goal-Driven Dyadic Communication, 2023", media=True, texts=True),
    "seumld": SourceFacts(
        "SEUMLD (multimodal lie detection)", "(access on request from Southeast University)",
        "access on request; treated as research-only and not redistributable",
        "SEUMLD, Southeast University", media=False, texts=True),
    "telecom_fraud": SourceFacts(
        "Telecom fraud texts", "https://github.com/1361095044/Telecom_Fraud_Texts",
        "no licence stated (citation requested); published here only as our translated, synthetic phone calls",
        "Li, Zhang and Jiang, Applied Sciences 14:11628, 2024", media=True, texts=False),
    "efaqa": SourceFacts(
        "Emotional First Aid Dataset (efaqa-corpus-zh)", "https://github.com/chatopera/efaqa-corpus-zh",
        "Chunsong Public License v1.0: research only, no commercial use, no redistribution of the corpus; published "
        "here only as our English rendering (translated, synthetic speech), never the Chinese records",
        "Wang, Wu and Lang, Emotional First Aid Dataset, 2020", media=True, texts=False),
}


def facts(source: str) -> SourceFacts:
    try:
        return FACTS[source]
    except KeyError:
        raise KeyError(f"no facts for source {source!r}") from None
