"""Plausible Chinese names for synthetic places and people (a water-town county of Jiaxing)."""

from __future__ import annotations

import numpy as np

_PLACE_FIRST = list(
    "东西南北金银新长永兴丰和安德福洪胜星湖塘港桥泾汇田民华光明清春秋红凤龙鹤"
    "云锦丁蒋沈陆俞范钱杨汾荷桃梅柳竹枫双三五七横曹洪亭"
)
_PLACE_SECOND = list("港桥浜荡泾塘湖圩庄兴丰安和星阳联华园新荣泰宁益胜家汇浦洲村溪")
_COMMUNITY_FIRST = list("华嘉文阳东西南北新明康泰和春锦金玉龙凤丰")
_COMMUNITY_SECOND = list("亭宁昌升苑城园庭苑景悦府湾晖")
_COMPOUND_SUFFIX = ["花园", "苑", "新村", "公寓", "名邸", "家园", "小区", "府"]
_SURNAMES = list("沈王张陆陈李徐周钱朱顾吴杨俞金孙胡姚蒋范许戴褚倪")
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅兰林云峰慧玲")


class NameBook:
    """Deterministic, unique names drawn from a random generator."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.used: set[str] = set()

    def _unique(self, first: list[str], second: list[str], suffix: str) -> str:
        for _ in range(10_000):
            name = self.rng.choice(first) + self.rng.choice(second) + suffix
            if name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError("ran out of unique names")

    def village(self) -> str:
        return self._unique(_PLACE_FIRST, _PLACE_SECOND, "村")

    def community(self) -> str:
        return self._unique(_COMMUNITY_FIRST, _COMMUNITY_SECOND, "社区")

    def compound(self) -> str:
        suffix = _COMPOUND_SUFFIX[int(self.rng.integers(len(_COMPOUND_SUFFIX)))]
        return self._unique(_COMMUNITY_FIRST + _PLACE_FIRST, _COMMUNITY_SECOND, suffix)

    def people(self, n: int) -> np.ndarray:
        sur = self.rng.choice(_SURNAMES, n)
        g1 = self.rng.choice(_GIVEN, n)
        g2 = np.where(self.rng.random(n) < 0.6, self.rng.choice(_GIVEN, n), "")
        return np.char.add(np.char.add(sur, g1), g2)

    def phones(self, n: int) -> np.ndarray:
        if n == 0:
            return np.array([], dtype=str)
        prefix = self.rng.choice(["135", "136", "137", "138", "139", "150", "158", "188", "199"], n)
        rest = self.rng.integers(0, 10**8, n)
        return np.char.add(prefix, np.char.zfill(rest.astype(str), 8))
