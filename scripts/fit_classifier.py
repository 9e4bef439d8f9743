"""Fit the default scorer's single-text models (``_scorers/_default/classifier.json``).

Reads the classification halves in ``--data`` (one JSONL file per set, the format of
``ctxcompress eval --task classify``) and fits two weighted logistic models (each set
weighing the same), computing their inputs exactly as the library does:

* **labels** (``_single_text.label_inputs``): on the topic and clinical sets, every (text,
  label) pair, with inputs of that text and that description only (and the fixed
  background descriptions below, against the text and, read as texts, against the label),
  so that a label's probability does not depend on the other labels of a call;
* **pairs** (``_single_text.pair_inputs``): on the near-duplicate sets, each text against
  its reference.

Each is measured two ways at the fixed threshold 0.5:

* **leave-one-set-out** (``held_out`` in the record): a set is scored by the model of its
  regime fitted on the other sets of that regime: how one calibration holds on a task it
  was not fitted on. Near-duplicate sets are also scored through ``classify()`` with the
  reference as the description of ``duplicate`` (the label model: "is this text about
  that one", not "does it say the same");
* **by item** (``held_out["by_item"]``): fitted on a random half of every set's items and
  measured on the other half (both ways, three seeds, averaged): what a held-back half of
  the same sets sees with the shipped models.

It also prints a **calibrated ceiling** per set (``held_out["calibrated_ceiling"]``): gold
drawn from the shipped probabilities themselves, which is what a perfectly calibrated
model of the same ranking would measure (its ECE is the noise floor at that set's size).

The shipped models are fitted on all sets of their regime.

Moderation sets (ETHOS, Davidson) are measured with the label model but not fitted on:
their wording-level cues are not what a label description carries, and fitting them costs
the other tasks.

    python scripts/fit_classifier.py --data ../shared/data/classify-dev \\
        --cache ~/.cache/ctxcompress/classify.sqlite [--write]

Embeddings are cached in ``--cache`` (a SQLite file), so a second run costs seconds.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ctxcompress import SQLiteCache
from ctxcompress._classification._evaluate import classification_report, load_items
from ctxcompress._scorers._default._embedded import minilm_model_dir
from ctxcompress._scorers._default._scorer import load_fusion_params
from ctxcompress._scorers._default._single_text import (
    BASE_INPUTS,
    LABEL_INPUTS,
    ClassifierParams,
    LinearModel,
    label_inputs,
)
from ctxcompress._scorers._onnx import BiEncoder

OUT = Path(__file__).resolve().parents[1] / "ctxcompress/_scorers/_default/classifier.json"
LABEL_FEATURES = LABEL_INPUTS
PAIR_FEATURES = BASE_INPUTS
ZIPF_CAP, WEIGHT_FLOOR = 7.0, 0.0
PAIR_SETS = ("mrpc", "stsb")
REPORT_ONLY = ("ethos-binary", "ethos-multilabel", "davidson")
# Generic descriptions a text is compared with to read its label cosines on a fixed scale
# (how near this text is to everything), and, read as texts, the yardstick of each label's
# own matches (the label-side ranks). Written for this purpose and not tuned on the
# evaluation sets; they never appear in results. Broad topics first, then finer topics
# across the broad fields (medicine, law, technology, science, business, sport, culture,
# everyday life), so that a text of any field meets generic competitors from its own
# field (with broad topics only, a clinical note beats them all with every clinical label,
# a news story does not).
BACKGROUND = (
    "cooking, recipes, ingredients and restaurants",
    "travel, tourism, hotels and destinations",
    "personal finance, savings, loans and taxes",
    "software development, programming and code",
    "computer hardware, devices and electronics",
    "health, illness, symptoms and medical treatment",
    "fitness, exercise and nutrition",
    "law, courts, lawsuits and legal rights",
    "politics, elections and government policy",
    "war, military and armed conflict",
    "crime, police and investigations",
    "sports, games, teams and athletes",
    "music, songs, bands and concerts",
    "films, television shows and celebrities",
    "books, literature and writing",
    "art, painting, museums and design",
    "religion, faith and spirituality",
    "education, schools, students and teachers",
    "science, research and experiments",
    "space, astronomy and planets",
    "weather, climate and the environment",
    "animals, pets and wildlife",
    "plants, gardening and agriculture",
    "cars, driving and transportation",
    "real estate, housing and rent",
    "jobs, careers, hiring and the workplace",
    "business, companies, markets and the economy",
    "shopping, products, prices and retail",
    "customer service requests and complaints",
    "family, parenting and children",
    "relationships, dating and marriage",
    "history, historical events and people",
    "philosophy, ethics and ideas",
    "mathematics, numbers and statistics",
    "chemistry, physics and engineering",
    "energy, oil, electricity and power",
    "social media, the internet and online life",
    "fashion, clothing and beauty",
    "home repair, furniture and household chores",
    "emotions, feelings and mental health",
    "insults, offensive or abusive language",
    "jokes, humour and entertainment",
    "greetings, small talk and casual conversation",
    "instructions, how-to guides and tutorials",
    "opinions, reviews and personal experiences",
    "announcements, events and schedules",
    "accidents, disasters and emergencies",
    "languages, words and grammar",
    "heart and blood vessel disease",
    "lung and breathing problems",
    "cancer and tumours",
    "bones, joints and injuries",
    "the brain and the nervous system",
    "stomach, bowel and digestion",
    "kidneys and the urinary system",
    "pregnancy and childbirth",
    "skin conditions",
    "infections, viruses and vaccines",
    "surgery and operations",
    "medical tests and scans",
    "medicines, drugs and prescriptions",
    "hospital care and nursing",
    "eyes, ears and teeth",
    "criminal law and trials",
    "contracts and business law",
    "family law and divorce",
    "immigration and borders",
    "taxes and public spending",
    "international relations and diplomacy",
    "local government and city councils",
    "human rights and civil liberties",
    "mobile phones and apps",
    "artificial intelligence and machine learning",
    "cybersecurity and hacking",
    "databases and cloud computing",
    "video games and consoles",
    "telecommunications and networks",
    "websites and web design",
    "robots and automation",
    "biology, cells and genetics",
    "physics and particles",
    "geology, rocks and earthquakes",
    "oceans and marine life",
    "ecology and conservation",
    "chemistry experiments and materials",
    "psychology and behaviour",
    "archaeology and ancient cultures",
    "stock markets and investing",
    "banking and interest rates",
    "startups and entrepreneurs",
    "manufacturing and factories",
    "trade, imports and exports",
    "company earnings and profits",
    "marketing and advertising",
    "labour unions and wages",
    "insurance and risk",
    "football and soccer",
    "basketball",
    "tennis and golf",
    "the Olympics and athletics",
    "motor racing and cycling",
    "cricket and rugby",
    "newspapers and journalism",
    "poetry",
    "theatre and dance",
    "photography",
    "celebrity gossip",
    "radio and podcasts",
    "food safety and diets",
    "weddings and celebrations",
    "pets and veterinary care",
    "public transport, trains and buses",
    "aviation and airlines",
    "shipping and ports",
    "holidays and festivals",
    "housing, construction and architecture",
    "crime statistics and prisons",
    "terrorism and attacks",
    "protests and demonstrations",
    "natural disasters, floods and storms",
    "poverty and welfare",
    "elderly care and retirement",
    "universities and exams",
    "childhood and school life",
    "friendship and loneliness",
    "racism and discrimination",
    "gender and equality",
    "swearing and rude insults",
)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-3, iters: int = 60
) -> tuple[np.ndarray, float]:
    """Weighted logistic regression by Newton's method (the bias is the last column)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    beta = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2 * w.sum() / len(w))
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ beta, -40, 40)))
        grad = xb.T @ (w * (p - y)) + reg * beta
        hess = (xb * (w * p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta[:-1], float(beta[-1])


def set_inputs(encoder: BiEncoder, path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per item: its (labels × :data:`LABEL_INPUTS`) inputs as ``classify()`` computes them
    (the first :data:`BASE_INPUTS` columns are the pair model's) and its 0/1 gold per
    label."""
    items = load_items(path)
    inputs, golds = [], []
    for item in items:
        names = list(item.labels)
        x = label_inputs(
            encoder,
            [item.text],
            [item.labels[n] for n in names],
            background=BACKGROUND,
            zipf_cap=ZIPF_CAP,
            weight_floor=WEIGHT_FLOOR,
        )[0]
        inputs.append(x)
        golds.append(np.asarray([float(n in item.gold) for n in names]))
    return inputs, golds


Data = dict[str, tuple[list[np.ndarray], list[np.ndarray]]]


def design(
    data: Data, sets: list[str], columns: int, items: dict[str, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # ``columns``: the first inputs of each row (the pair model's BASE_INPUTS lead the
    # label model's LABEL_INPUTS); ``items``: per set, the items to use (default: all).
    xs, ys, ws = [], [], []
    for name in sets:
        inputs, golds = data[name]
        chosen = range(len(inputs)) if items is None else items[name]
        y = np.concatenate([golds[i] for i in chosen])
        xs.append(np.concatenate([inputs[i][:, :columns] for i in chosen]))
        ys.append(y)
        ws.append(np.full(len(y), 1000.0 / len(y)))  # every set weighs the same
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def fit(
    data: Data,
    sets: list[str],
    features: tuple[str, ...],
    items: dict[str, np.ndarray] | None = None,
) -> LinearModel:
    x, y, w = design(data, sets, len(features), items)
    # Fitted on inputs clipped to their 1st-99th percentiles, which the model then clips
    # to: a text unlike the fitting data is read at the edge of the range, not extrapolated.
    lower, upper = np.percentile(x, 1, axis=0), np.percentile(x, 99, axis=0)
    weights, bias = fit_logistic(np.clip(x, lower, upper), y, w)
    return LinearModel(
        features=features,
        weights=tuple(round(float(v), 5) for v in weights),
        bias=round(bias, 5),
        fitted_on=tuple(sets),
        lower=tuple(round(float(v), 5) for v in lower),
        upper=tuple(round(float(v), 5) for v in upper),
    )


@dataclass
class Models:
    labels: LinearModel
    pairs: LinearModel

    def classify(self, x: np.ndarray) -> np.ndarray:
        """What ``classify()`` gives: the label model, for any description."""
        return self.labels.probabilities(x, LABEL_INPUTS)

    def duplicate(self, x: np.ndarray) -> np.ndarray:
        """The pair model (``duplicate_probability`` reads both directions, the
        ``--task duplicates`` evaluation too)."""
        return self.pairs.probabilities(x[:, : len(BASE_INPUTS)], BASE_INPUTS)

    def regime(self, name: str, x: np.ndarray) -> np.ndarray:
        """The call a set is meant for: near-duplicate sets the pair model."""
        return self.duplicate(x) if name in PAIR_SETS else self.classify(x)


def fit_models(
    data: Data,
    label_sets: list[str],
    pair_sets: list[str],
    items: dict[str, np.ndarray] | None = None,
) -> Models:
    return Models(
        labels=fit(data, label_sets, LABEL_FEATURES, items),
        pairs=fit(data, pair_sets, PAIR_FEATURES, items),
    )


def measure(probabilities: list[np.ndarray], golds: list[np.ndarray]) -> dict[str, Any]:
    report = classification_report(
        [[float(v) for v in p] for p in probabilities], [list(g) for g in golds], thresholds=(0.5,)
    )
    return {
        "macro_f1_at_0.5": round(report["thresholds"][0]["macro_f1"], 4),
        "best_macro_f1": round(report["best"]["macro_f1"], 4),
        "best_threshold": report["best"]["threshold"],
        "auroc": round(report["auroc"], 4),
        "ece": round(report["ece"], 4),
        "top1": None if report["top1"] is None else round(report["top1"], 4),
    }


def leave_one_set_out(data: Data, label_sets: list[str], pair_sets: list[str]) -> dict[str, Any]:
    """Each set through the call meant for it (near-duplicate sets: the pair model) with
    models fitted without it; near-duplicate sets also through ``classify()`` with the
    reference as the description of ``duplicate`` (the label model)."""
    out: dict[str, Any] = {}
    for name in data:
        models = fit_models(
            data, [s for s in label_sets if s != name], [s for s in pair_sets if s != name]
        )
        inputs, golds = data[name]
        row = {
            "model": "pairs" if name in pair_sets else "labels",
            **measure([models.regime(name, x) for x in inputs], golds),
            "fitted_on_it": False,
        }
        if name in pair_sets:
            row["through_classify"] = measure([models.classify(x) for x in inputs], golds)
        out[name] = row
        print("leave-one-set-out", name, json.dumps(row))
    return out


def by_item(
    data: Data, label_sets: list[str], pair_sets: list[str], seeds: tuple[int, ...] = (0, 1, 2)
) -> dict[str, Any]:
    """What a held-back half of the same sets sees: models fitted on a random half of the
    items of every set, measured on the other half (both ways, three seeds, averaged)."""
    collected: dict[str, list[dict[str, Any]]] = {name: [] for name in data}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        halves = {}
        for name in data:
            order = rng.permutation(len(data[name][0]))
            halves[name] = (order[: len(order) // 2], order[len(order) // 2 :])
        for side in (0, 1):
            fitted = {n: h[side] for n, h in halves.items()}
            models = fit_models(data, label_sets, pair_sets, fitted)
            for name, (inputs, golds) in data.items():
                test = halves[name][1 - side]
                collected[name].append(
                    measure(
                        [models.regime(name, inputs[i]) for i in test], [golds[i] for i in test]
                    )
                )
    out: dict[str, Any] = {}
    for name, rows in collected.items():
        out[name] = {
            k: None if rows[0][k] is None else round(float(np.mean([r[k] for r in rows])), 4)
            for k in rows[0]
        }
        print("by item (halves)", name, json.dumps(out[name]))
    return out


def calibrated_ceiling(data: Data, models: Models, draws: int = 30) -> dict[str, Any]:
    """What a perfectly calibrated model with the shipped models' ranking would measure:
    gold labels drawn from the shipped probabilities themselves (``draws`` times, seeded),
    then measured like real gold. Its ECE is the noise floor of a set of this size, and
    its macro-F1 at 0.5 / best says whether calibration alone can put the best threshold
    near 0.5 (for calibrated probabilities the F1-optimal threshold is half the best F1,
    Lipton et al. 2014)."""
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    for name, (inputs, _) in data.items():
        probabilities = [models.regime(name, x) for x in inputs]
        rows = []
        for _ in range(draws):
            drawn = [(rng.random(len(p)) < p).astype(float) for p in probabilities]
            rows.append(measure(probabilities, drawn))
        out[name] = {
            "ece_mean": round(float(np.mean([r["ece"] for r in rows])), 4),
            "ece_p90": round(float(np.quantile([r["ece"] for r in rows], 0.9)), 4),
            "f1_ratio_mean": round(
                float(np.mean([r["macro_f1_at_0.5"] / r["best_macro_f1"] for r in rows])), 4
            ),
        }
        print("calibrated ceiling", name, json.dumps(out[name]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="folder of <set>.jsonl files")
    parser.add_argument("--cache", required=True, type=Path, help="SQLite embedding cache")
    parser.add_argument("--token-cache", type=Path, help="SQLite token cache (default: beside)")
    parser.add_argument("--write", action="store_true", help=f"write {OUT.name}")
    args = parser.parse_args()
    fusion = load_fusion_params()
    cache = SQLiteCache(args.cache)
    encoder = BiEncoder(
        minilm_model_dir(),
        window=fusion.window,
        window_stride=fusion.window_stride,
        cache=cache,
        token_cache=SQLiteCache(args.token_cache or args.cache.with_suffix(".tokens.sqlite")),
    )
    files = sorted(args.data.glob("*.jsonl"))
    data = {f.stem: set_inputs(encoder, f) for f in files}
    pair_sets = [s for s in data if s in PAIR_SETS]
    label_sets = [s for s in data if s not in PAIR_SETS and s not in REPORT_ONLY]
    held_out = leave_one_set_out(data, label_sets, pair_sets)
    halves = by_item(data, label_sets, pair_sets)
    models = fit_models(data, label_sets, pair_sets)
    ceiling = calibrated_ceiling(data, models)
    params = ClassifierParams(
        format="ctxcompress-classifier",
        version=2,
        labels=models.labels,
        pairs=models.pairs,
        background_labels=BACKGROUND,
        zipf_cap=ZIPF_CAP,
        weight_floor=WEIGHT_FLOOR,
        fitted_on=(
            "scripts/fit_classifier.py: two weighted logistic regressions (each set weighing "
            f"the same) on the classify-dev halves: labels on every (text, label) pair of "
            f"{', '.join(label_sets)}; pairs on {', '.join(pair_sets)}; all-MiniLM-L6-v2 "
            f"int8, windows of {fusion.window} tokens, stride {fusion.window_stride}; "
            f"{len(BACKGROUND)} background descriptions (text-side gaps; label-side ranks "
            "with each read as a text); "
            f"{', '.join(REPORT_ONLY)} measured, not fitted on. "
            "held_out: each set scored by its regime's model fitted without it "
            "(leave-one-set-out; near-duplicate sets also through classify(), the label "
            "model); "
            "by_item: fitted on a random half of every set's items, measured on the other "
            "half (both ways, three seeds), as a held-back half of the same sets would be; "
            "calibrated_ceiling: gold drawn from the shipped probabilities (30 draws), the "
            "ECE noise floor and the F1 ratio a perfectly calibrated model of this ranking "
            "gets; threshold 0.5"
        ),
        held_out={**held_out, "by_item": halves, "calibrated_ceiling": ceiling},
    )
    print(
        "labels",
        dict(zip(models.labels.features, models.labels.weights, strict=True)),
        models.labels.bias,
    )
    print(
        "pairs",
        dict(zip(models.pairs.features, models.pairs.weights, strict=True)),
        models.pairs.bias,
    )
    if args.write:
        OUT.write_text(json.dumps(params.model_dump(), indent=2) + "\n", "utf-8")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
