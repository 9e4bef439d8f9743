"""Classifier throughput with the default scorer: texts per second for 4 and 10 labels, and
``classify()`` without a scorer (the shared default) against a preloaded scorer.

    python benchmarks/bench_classify.py [--texts 200]

Texts are synthetic news-like sentences (about 40 words), each new to the embedding cache.
"""

from __future__ import annotations

import argparse
import random
import time

from ctxcompress import classify, classify_many, load_scorer

WORDS = (
    "the market team government research company match election players shares study "
    "minister league profit software scientists court season economy launch vote coach "
    "network quarterly trial patients injury budget device data championship"
).split()
LABELS_10 = {
    f"label{i}": d
    for i, d in enumerate(
        [
            "world news: international affairs, politics, governments and wars",
            "sports news: games, teams, athletes, matches and scores",
            "business news: companies, markets, the economy and earnings",
            "science and technology news: research, computers, the internet",
            "health news: medicine, hospitals, patients and diseases",
            "entertainment news: films, music, celebrities and television",
            "crime and courts: trials, police, arrests and lawsuits",
            "weather and climate: storms, forecasts and temperatures",
            "education: schools, universities, students and teachers",
            "travel: tourism, airlines, hotels and destinations",
        ]
    )
}


def texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"Report {seed}-{i}: " + " ".join(rng.choices(WORDS, k=40)) + "." for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=200)
    args = parser.parse_args()
    scorer = load_scorer("default")
    classify("warm-up", {"a": "b"}, scorer=scorer)
    for k in (4, 10):
        labels = dict(list(LABELS_10.items())[:k])
        batch = texts(args.texts, k)
        start = time.perf_counter()
        classify_many(batch, labels, scorer=scorer)
        batched = args.texts / (time.perf_counter() - start)
        one = texts(args.texts // 4, 100 + k)
        start = time.perf_counter()
        for t in one:
            classify(t, labels, scorer=scorer)
        single = len(one) / (time.perf_counter() - start)
        print(
            f"{k} labels: classify_many {batched:.1f} texts/s; classify() one at a time "
            f"(preloaded scorer) {single:.1f} texts/s"
        )
    labels = dict(list(LABELS_10.items())[:4])
    classify("warm-up of the shared default", labels)
    timings = {}
    for name, kwargs in (("preloaded scorer", {"scorer": scorer}), ("no scorer", {})):
        batch = texts(args.texts // 4, 7 if name == "no scorer" else 8)
        start = time.perf_counter()
        for t in batch:
            classify(t, labels, **kwargs)  # type: ignore[arg-type]
        timings[name] = (time.perf_counter() - start) / len(batch)
    print(
        "classify() per text, 4 labels: "
        + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in timings.items())
        + f" (ratio {timings['no scorer'] / timings['preloaded scorer']:.2f})"
    )


if __name__ == "__main__":
    main()
