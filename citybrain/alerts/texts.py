"""What an alert says, in the screen's languages: one template per kind of finding, Chinese
first (the command centre's), English beside it (``?lang=en``). A detector says which template
and with what figures (``say``); both texts are kept with the alert, so a reader in either
language reads what the detector found, as it found it."""

from __future__ import annotations

from typing import Any

LANGUAGES = ("zh", "en")

TEMPLATES: dict[str, dict[str, str]] = {
    "scan": {
        "zh": "{hours:g} 小时内{what_zh} {observed} 起，预期 {expected:.1f} 起；偶然出现约 "
        "{recurrence:,.0f} 天一次",
        "en": "{observed} {what_en} in {hours:g} h where {expected:.1f} were expected; by chance "
        "about once in {recurrence:,.0f} days",
    },
    "ears": {
        "zh": "{hours} 小时内{what_zh} {observed} 起，过去 {weeks} 周同时段平均 {expected:.1f} 起"
        "（{method} = {statistic:.1f}）",
        "en": "{observed} {what_en} in {hours} h where the same hours of the last {weeks} weeks "
        "averaged {expected:.1f} ({method} = {statistic:.1f})",
    },
    "count": {
        "zh": "{hours} 小时内{what_zh} {observed} 起（规则：{at_least} 起及以上）",
        "en": "{observed} {what_en} within {hours} h (the rule: {at_least} or more)",
    },
    "overdue": {
        "zh": "{observed} 起案件超过派遣时限，最早自 {oldest:%m-%d %H:%M} 等待；队伍：{teams_zh}",
        "en": "{observed} cases past their dispatch time limit, waiting since "
        "{oldest:%m-%d %H:%M}; team: {teams_en}",
    },
    "cameras_offline": {
        "zh": "{cameras} 个摄像头中 {offline} 个离线（{percent:.0f}%，规则：高于 {above:g}%）",
        "en": "{offline} of {cameras} cameras offline ({percent:.0f} %, the rule: above "
        "{above:g} %)",
    },
}


def what(category: str | None) -> dict[str, str]:
    """What was counted, in each language: a category's cases, or every incident."""
    return {
        "what_zh": f"{category}事件" if category else "事件",
        "what_en": f"{category} incidents" if category else "incidents",
    }


def say(template: str, **figures: Any) -> dict[str, str]:
    """The finding ``template`` says with ``figures``, in every language."""
    return {lang: TEMPLATES[template][lang].format(**figures) for lang in LANGUAGES}


def said(template: str, **figures: Any) -> dict[str, str]:
    """``say``, as a finding's ``summary`` (Chinese) and ``summary_en``."""
    texts = say(template, **figures)
    return {"summary": texts["zh"], "summary_en": texts["en"]}
