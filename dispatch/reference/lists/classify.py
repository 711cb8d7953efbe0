"""Suggest the matter of a report from its free-text description.

Chinese has no spaces, so texts are cut into character bigrams and trigrams, plus single
characters at a lower weight (colloquial reports often share only 秤, 狗 or 缝 with the
list). Each matter is a small document made of its name, keywords, duty texts and legal
basis (fields weighted), scored against the description with BM25; a keyword of the list
found verbatim in the description adds a bonus that grows with the keyword's length and
rarity. Raw scores become confidences with a softmax over all matters plus a "none of
these" option, so a description matching nothing well gets low confidence everywhere and
a threshold means something. On the demo set's report half a top confidence of 0.35 or
more is right about 3 times in 4, of 0.5 or more about 5 times in 6 (bench/classify.py).

Pure over MatterRules: no database, built once per list version and reused."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dispatch.reference.lists.rules import MatterRule, MatterRules

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(f"[{_CJK}]+|[a-z0-9]+")
# Grams worth less than this are too common (的, 人, 和) to be shown as a reason.
_EXPLAIN_MIN = 1.0


# Suggestions below this confidence are not offered to a person: they are guesses, not hints.
# Measured on the demo list (dispatch/demo/data): of its 270 labelled descriptions the right
# top suggestion scores 0.151 at the 5th percentile and 0.286 at the 10th (median 0.891);
# vague texts ("村口那边有点情况，麻烦来看看" 0.117, "有群众反映情况" 0.083, "这里有问题，请尽快
# 处理" 0.077, "有人打电话说有情况" 0.082) all score below 0.12. At 0.15, 95 % of right top
# suggestions are kept and every vague text above gets none.
SUGGESTION_FLOOR = 0.15


@dataclass(frozen=True, slots=True)
class ClassifierParams:
    """Weights of fields and signals, chosen on the demo set's tune half (bench/classify.py)."""

    name_weight: float = 3.0
    keyword_weight: float = 2.0
    department_weight: float = 1.0
    township_weight: float = 1.0
    basis_weight: float = 0.3
    k1: float = 1.2
    b: float = 0.75
    keyword_bonus: float = 1.0
    gram_sizes: tuple[int, ...] = (2, 3)
    # Single characters carry meaning in colloquial reports: on the tune half they add ~9
    # points of top-1; 0.5-1.0 of a bigram's weight is a plateau, 0.7 its middle.
    unigram_weight: float = 0.7
    # Softmax temperature and the raw score of "none of these" (see module docstring),
    # fitted by log-loss of top-1 correctness on the tune half.
    temperature: float = 4.0
    null_score: float = 4.0


DEFAULT_PARAMS = ClassifierParams()


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One candidate matter, its confidence in [0, 1], and why it was suggested."""

    code: str
    name: str
    score: float
    why: str


def is_confident(suggestions: Sequence[Suggestion], threshold: float) -> bool:
    """Tell whether the best suggestion is sure enough to route without a person."""
    return bool(suggestions) and suggestions[0].score >= threshold


def normalise_text(text: str) -> str:
    """Fold width and case so that ＡＢＣ, abc and full-width digits compare equal."""
    return unicodedata.normalize("NFKC", text).lower()


def grams(text: str, sizes: Sequence[int] = (2, 3), *, unigrams: bool = False) -> list[str]:
    """Cut a text into character n-grams within runs of Chinese, plus whole Latin/digit words."""
    out: list[str] = []
    for run in _RUN.findall(normalise_text(text)):
        if not ("\u3400" <= run[0] <= "\ufaff"):
            out.append(run)
            continue
        if unigrams or len(run) < min(sizes):
            out.extend(run)
        for size in sizes:
            out.extend(run[i : i + size] for i in range(len(run) - size + 1))
    return out


class Classifier:
    """BM25 over character n-grams of each matter, plus verbatim keyword hits."""

    def __init__(
        self,
        matters: Sequence[MatterRule],
        postings: dict[str, list[tuple[int, float]]],
        keywords: dict[str, list[tuple[int, float]]],
        params: ClassifierParams,
    ) -> None:
        self._matters = tuple(matters)
        self._postings = postings
        self._keywords = keywords
        self.params = params
        # Per matter, what each gram is worth: only read to explain a suggestion.
        self._worth: list[dict[str, float]] = [{} for _ in matters]
        for gram, posting in postings.items():
            for index, value in posting:
                self._worth[index][gram] = value

    @classmethod
    def build(cls, rules: MatterRules, params: ClassifierParams = DEFAULT_PARAMS) -> Classifier:
        """Index the matters of one list version."""
        matters = list(rules.matters)
        p = params
        weighted: list[dict[str, float]] = []
        for matter in matters:
            tf: dict[str, float] = {}
            fields: Iterable[tuple[float, str]] = (
                (p.name_weight, matter.name),
                *((p.keyword_weight, k) for k in matter.keywords),
                (p.department_weight, matter.department_duties or ""),
                (p.township_weight, matter.township_duties_text or ""),
                (p.basis_weight, matter.legal_basis or ""),
            )
            for weight, text in fields:
                if weight <= 0:
                    continue
                for gram in grams(text, p.gram_sizes, unigrams=p.unigram_weight > 0):
                    tf[gram] = tf.get(gram, 0.0) + weight
            weighted.append(tf)

        n = len(matters)
        lengths = [sum(tf.values()) for tf in weighted]
        average = (sum(lengths) / n) if n else 1.0
        df: Counter[str] = Counter()
        for tf in weighted:
            df.update(tf.keys())
        postings: dict[str, list[tuple[int, float]]] = {}
        for index, tf in enumerate(weighted):
            norm = p.k1 * (1 - p.b + p.b * lengths[index] / average) if average else p.k1
            for gram, f in tf.items():
                idf = math.log(1 + (n - df[gram] + 0.5) / (df[gram] + 0.5))
                if len(gram) == 1 and "\u3400" <= gram <= "\ufaff":
                    idf *= p.unigram_weight
                # Fold idf into the posting: scoring is then one addition per hit.
                postings.setdefault(gram, []).append((index, idf * f * (p.k1 + 1) / (f + norm)))

        # A keyword shared by several matters says less: weigh it by how many use it, and
        # a longer keyword says more than a short one.
        users: dict[str, set[int]] = {}
        for index, matter in enumerate(matters):
            for keyword in matter.keywords:
                folded = normalise_text(keyword).strip()
                if len(folded) >= 2:
                    users.setdefault(folded, set()).add(index)
        keywords = {
            kw: [
                (i, p.keyword_bonus * math.log(1 + n / len(who)) * (1 + 0.5 * (len(kw) - 2)))
                for i in sorted(who)
            ]
            for kw, who in users.items()
        }
        return cls(matters, postings, keywords, params)

    @property
    def size(self) -> int:
        """Return how many matters the classifier knows."""
        return len(self._matters)

    def raw_scores(self, text: str) -> list[float]:
        """Return the unnormalised evidence for each matter, in list order."""
        return self._score(normalise_text(text or ""))[0]

    def suggest(self, text: str, k: int = 3) -> list[Suggestion]:
        """Return up to k matters, most likely first; none when nothing in the text matches."""
        folded = normalise_text(text or "")
        scores, hits, query = self._score(folded)
        if k <= 0 or not any(s > 0 for s in scores):
            return []
        p = self.params
        top = max(scores)
        # Shift by the top score before exponentiating so long texts cannot overflow.
        exps = [math.exp((s - top) / p.temperature) for s in scores]
        total = sum(exps) + math.exp((p.null_score - top) / p.temperature)
        ranked = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: (-scores[i], i))
        return [
            Suggestion(
                code=self._matters[i].code,
                name=self._matters[i].name,
                score=round(exps[i] / total, 4),
                why=self._explain(i, hits.get(i, []), query),
            )
            for i in ranked[:k]
        ]

    def _score(self, folded: str) -> tuple[list[float], dict[int, list[str]], set[str]]:
        p = self.params
        scores = [0.0] * len(self._matters)
        query = set(grams(folded, p.gram_sizes, unigrams=p.unigram_weight > 0))
        for gram in query:
            for index, value in self._postings.get(gram, ()):
                scores[index] += value
        found = [kw for kw in self._keywords if kw in folded]
        # Inside 违章搭建 the shorter 搭建 is no second piece of evidence.
        found = [kw for kw in found if not any(kw != other and kw in other for other in found)]
        hits: dict[int, list[str]] = {}
        for kw in found:
            for index, bonus in self._keywords[kw]:
                scores[index] += bonus
                hits.setdefault(index, []).append(kw)
        return scores, hits, query

    def _explain(self, index: int, hits: list[str], query: set[str]) -> str:
        """Name the keywords found and the grams that weighed most, e.g. 关键词: 违建."""
        parts = []
        if hits:
            parts.append("关键词: " + "、".join(hits))
        worth = self._worth[index]
        # Words before single characters: 违章 says more to a reader than 违.
        best = sorted(
            (
                g
                for g in query
                if worth.get(g, 0.0) >= _EXPLAIN_MIN and not any(g in h for h in hits)
            ),
            key=lambda g: (len(g) == 1, -worth[g], g),
        )
        shown: list[str] = []
        for gram in best:
            if not any(gram in other for other in shown) and len(shown) < 4:
                shown.append(gram)
        if shown:
            parts.append("相近字词: " + "、".join(shown))
        return "; ".join(parts) or "弱匹配"
