"""The sources' sections of the build configuration, one per adapter (each defined beside its adapter)."""

from __future__ import annotations

from humansense.sections import Section, SourceConfig
from humansense.sources.activitynet import ActivityNetConfig
from humansense.sources.ava import AvaConfig
from humansense.sources.celebvhq import CelebvhqConfig
from humansense.sources.efaqa import EfaqaConfig
from humansense.sources.jester import JesterConfig
from humansense.sources.realtalk import RealtalkConfig
from humansense.sources.seumld import SeumldConfig
from humansense.sources.skindeep import SkindeepConfig
from humansense.sources.tao import TaoConfig
from humansense.sources.telecom_fraud import TelecomFraudConfig
from humansense.sources.ucf_crime import UcfCrimeConfig


class SourcesConfig(Section):
    celebvhq: CelebvhqConfig = CelebvhqConfig()
    ava: AvaConfig = AvaConfig()
    jester: JesterConfig = JesterConfig()
    activitynet: ActivityNetConfig = ActivityNetConfig()
    ucf_crime: UcfCrimeConfig = UcfCrimeConfig()
    tao: TaoConfig = TaoConfig()
    skindeep: SkindeepConfig = SkindeepConfig()
    realtalk: RealtalkConfig = RealtalkConfig()
    seumld: SeumldConfig = SeumldConfig()
    telecom_fraud: TelecomFraudConfig = TelecomFraudConfig()
    efaqa: EfaqaConfig = EfaqaConfig()

    def enabled(self) -> dict[str, SourceConfig]:
        return {name: getattr(self, name) for name in type(self).model_fields if getattr(self, name).enabled}
