#!/usr/bin/env python3
"""Splink 4 (DuckDB backend) on a renkei-mpi synthetic population CSV, for bench/mpi.sh.

    python bench/mpi_splink.py --csv pop.csv [--threshold 0.9] [--seed 42]
    python bench/mpi_splink.py --csv pop.csv --tune     # threshold sweep (use on 10k only)

Prints one JSON line: pairwise precision / recall / F1 of the clusters formed at the
match-probability threshold against the ground-truth person_id, and seconds per phase.
The metric is the one `mpi-eval` uses (renkei_mpi::synth::pairwise_metrics): every pair of
records inside one predicted cluster is a predicted link, every pair inside one true person
is a true pair, tp = pairs inside (person, cluster) cells.

Preprocessing (timed, part of the pipeline — Renkei times its own normalisation too):
names NFKC with whitespace and ・ removed; kana also hiragana → katakana; birth dates parsed
from ISO, 1950/3/2, 19500302, 昭和25年3月2日 (明治…令和) into YYYY-MM-DD strings (digit errors
kept, not validated); phone digits only with +81 → 0; postal code digits; address NFKC,
prefecture dropped, kanji numerals → digits, 丁目/番地/番/号/の/dashes after a number → '-',
cut into full / block / town. Renkei's kanji variant table (髙→高 …) and its kana folding
(コーノ = コウノ) are deliberately NOT copied: Splink sees kana-equal variants at the kana level
and spelling variants through Jaro–Winkler.
"""
import argparse
import functools
import json
import re
import sys
import time
import unicodedata

T0 = time.perf_counter()
import pandas as pd  # noqa: E402
import splink.comparison_level_library as cll  # noqa: E402
import splink.comparison_library as cl  # noqa: E402
from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # noqa: E402

IMPORT_S = time.perf_counter() - T0

# ---------------------------------------------------------------- normalisation

_HIRA2KATA = {c: c + 0x60 for c in range(0x3041, 0x3097)}
_SPACES = re.compile(r"[\s\u3000・]+")


@functools.lru_cache(maxsize=None)
def norm_name(s):
    if not s:
        return None
    s = _SPACES.sub("", unicodedata.normalize("NFKC", s))
    return s or None


@functools.lru_cache(maxsize=None)
def norm_kana(s):
    s = norm_name(s)
    return s.translate(_HIRA2KATA) if s else None


_ERAS = {"明治": 1867, "大正": 1911, "昭和": 1925, "平成": 1988, "令和": 2018,
         "M": 1867, "T": 1911, "S": 1925, "H": 1988, "R": 2018}
_D_SEP = re.compile(r"^(\d{4})\D(\d{1,2})\D(\d{1,2})\D?$")
_D_ERA = re.compile(r"^(明治|大正|昭和|平成|令和|[MTSHR])\.?(\d{1,2}|元)\D(\d{1,2})\D(\d{1,2})\D?$")


@functools.lru_cache(maxsize=None)
def norm_date(s):
    if not s:
        return None
    s = unicodedata.normalize("NFKC", s).strip()
    m = _D_SEP.match(s)
    if m:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    elif len(s) == 8 and s.isdigit():
        y, mo, d = int(s[:4]), int(s[4:6]), int(s[6:])
    else:
        m = _D_ERA.match(s)
        if not m:
            return None
        y = _ERAS[m[1]] + (1 if m[2] == "元" else int(m[2]))
        mo, d = int(m[3]), int(m[4])
    return f"{y:04d}-{mo:02d}-{d:02d}"


def norm_digits(s):
    if not s:
        return None
    d = "".join(c for c in unicodedata.normalize("NFKC", s) if c.isdigit())
    return d or None


def norm_phone(s):
    d = norm_digits(s)
    if not d:
        return None
    if s.lstrip().startswith("+81") or unicodedata.normalize("NFKC", s).lstrip().startswith("+81"):
        d = "0" + d[2:]
    elif d.startswith("0081"):
        d = "0" + d[4:]
    return d if len(d) >= 6 else None


_KNUM = "〇一二三四五六七八九"


def _kanji_number(m):
    s = m.group(0)
    if "十" not in s and "百" not in s:
        return "".join(str(_KNUM.index(c)) for c in s)
    total, cur = 0, 0
    for c in s:
        if c == "百":
            total += (cur or 1) * 100
            cur = 0
        elif c == "十":
            total += (cur or 1) * 10
            cur = 0
        else:
            cur = _KNUM.index(c)
    return str(total + cur)


_KNUM_RE = re.compile("[〇一二三四五六七八九十百]+")
_ADDR_UNIT = re.compile(r"(\d+)(?:丁目|番地|番|号|の|[-ー－―‐−–—])")
_BLOCK = re.compile(r"\d+-\d+(?:-\d+)?")
_POSTAL = re.compile(r"^〒?\s*\d{3}-?\d{4}\s*")


def norm_address(s):
    if not s:
        return (None, None, None)
    s = unicodedata.normalize("NFKC", s).strip()
    s = _POSTAL.sub("", s)
    s = _SPACES.sub("", s)
    if s.startswith("北海道") and len(s) > 3:
        s = s[3:]
    s = _KNUM_RE.sub(_kanji_number, s)
    s = _ADDR_UNIT.sub(r"\1-", s)
    m = _BLOCK.search(s)
    if m:
        return (s.rstrip("-"), s[: m.end()], s[: m.start()] or None)
    return (s.rstrip("-"), s.rstrip("-"), None)


def load(path):
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    addr = [norm_address(a) for a in raw["address"]]
    df = pd.DataFrame({
        "record_id": raw["record_id"],
        "fam_kanji": raw["family_kanji"].map(norm_name),
        "given_kanji": raw["given_kanji"].map(norm_name),
        "fam_kana": raw["family_kana"].map(norm_kana),
        "given_kana": raw["given_kana"].map(norm_kana),
        "prev_kanji": raw["previous_family_kanji"].map(norm_name),
        "prev_kana": raw["previous_family_kana"].map(norm_kana),
        "bd": raw["birth_date"].map(norm_date),
        "sex": raw["sex"].map(lambda s: s or None),
        "phone": raw["phone"].map(norm_phone),
        "postal": raw["postal_code"].map(norm_digits),
        "addr_full": [a[0] for a in addr],
        "addr_block": [a[1] for a in addr],
        "addr_town": [a[2] for a in addr],
        "ins": raw["insurer_number"].map(norm_digits),
    })
    df["bym"] = df["bd"].str.slice(0, 7)
    # Ground truth is kept aside, never given to Splink.
    truth = raw["person_id"].tolist()
    return df, truth


# ---------------------------------------------------------------- Splink model

def name_comparison(name, kanji, kana, prev_kanji=None, prev_kana=None):
    null_sql = (f"NOT (({kanji}_l IS NOT NULL AND {kanji}_r IS NOT NULL) "
                f"OR ({kana}_l IS NOT NULL AND {kana}_r IS NOT NULL))")
    levels = [
        cll.CustomLevel(null_sql, "null").configure(is_null_level=True),
        cll.CustomLevel(f"{kana}_l = {kana}_r AND {kanji}_l = {kanji}_r",
                        "kanji and kana exact").configure(tf_adjustment_column=kana),
        cll.ExactMatchLevel(kana, term_frequency_adjustments=True),
        cll.ExactMatchLevel(kanji, term_frequency_adjustments=True),
    ]
    if prev_kana:
        levels.append(cll.CustomLevel(
            f"{kana}_l = {prev_kana}_r OR {prev_kana}_l = {kana}_r "
            f"OR {kanji}_l = {prev_kanji}_r OR {prev_kanji}_l = {kanji}_r",
            "current = previous family name"))
    levels += [cll.JaroWinklerLevel(kana, 0.88), cll.ElseLevel()]
    return cl.CustomComparison(comparison_levels=levels, output_column_name=name)


def settings():
    date_levels = [
        cll.NullLevel("bd"),
        cll.ExactMatchLevel("bd"),
        cll.DamerauLevenshteinLevel("bd", 1),
        cll.CustomLevel("substr(bd_l,1,4) = substr(bd_r,1,4) AND substr(bd_l,6,2) = substr(bd_r,9,2) "
                        "AND substr(bd_l,9,2) = substr(bd_r,6,2)", "day-month swapped"),
        cll.ElseLevel(),
    ]
    # Phone, address and postal code are shared by a household: as three independent
    # comparisons they triple-count "same household" and link siblings and spouses
    # (precision 0.90 at 10k). One combined comparison counts that evidence once.
    phone_eq = "(phone_l = phone_r OR ends_with(phone_l, phone_r) OR ends_with(phone_r, phone_l))"
    contact_levels = [
        cll.CustomLevel("(phone_l IS NULL OR phone_r IS NULL) AND (addr_full_l IS NULL OR addr_full_r IS NULL) "
                        "AND (postal_l IS NULL OR postal_r IS NULL)", "null").configure(is_null_level=True),
        cll.CustomLevel(f"{phone_eq} AND addr_block_l = addr_block_r", "phone and address block"),
        cll.CustomLevel(phone_eq, "phone (or one lacks the area code)"),
        cll.ExactMatchLevel("addr_block"),
        cll.CustomLevel("addr_town_l = addr_town_r OR postal_l = postal_r", "town or postal code"),
        cll.ElseLevel(),
    ]
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[
            name_comparison("family", "fam_kanji", "fam_kana", "prev_kanji", "prev_kana"),
            name_comparison("given", "given_kanji", "given_kana"),
            cl.CustomComparison(comparison_levels=date_levels, output_column_name="birth_date"),
            cl.ExactMatch("sex"),
            cl.CustomComparison(comparison_levels=contact_levels, output_column_name="contact"),
            cl.ExactMatch("ins"),
        ],
        # The same seven rules as renkei_mpi::blocking (without its previous-name keys and
        # its bucket cap; kana not folded).
        blocking_rules_to_generate_predictions=[
            block_on("fam_kana", "bd"),
            block_on("bd", "given_kana"),
            block_on("bd", "given_kanji"),
            block_on("phone"),
            block_on("fam_kanji", "bym"),
            block_on("fam_kana", "given_kana"),
            block_on("ins"),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


# ---------------------------------------------------------------- metrics

def pairwise_metrics(truth, predicted):
    """Same definition as renkei_mpi::synth::pairwise_metrics."""
    t = pd.DataFrame({"t": truth, "p": predicted})
    pairs = lambda s: int((s * (s - 1) // 2).sum())  # noqa: E731
    tp = pairs(t.groupby(["t", "p"]).size())
    true_pairs = pairs(t.groupby("t").size())
    pred_pairs = pairs(t.groupby("p").size())
    precision = 1.0 if pred_pairs == 0 else tp / pred_pairs
    recall = 1.0 if true_pairs == 0 else tp / true_pairs
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return dict(true_positives=tp, predicted_pairs=pred_pairs, true_pairs=true_pairs,
                precision=precision, recall=recall, f1=f1)


def labels_from_clusters(clusters_df, record_ids):
    m = dict(zip(clusters_df["record_id"], clusters_df["cluster_id"]))
    # Records absent from the cluster table are singletons.
    return [m.get(r, "single:" + r) for r in record_ids]


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--threshold", type=float, default=0.9,
                    help="match probability at which pairs are clustered (tuned on 10k)")
    ap.add_argument("--seed", type=int, default=42, help="seed of u random sampling")
    ap.add_argument("--u-max-pairs", type=float, default=2e6)
    ap.add_argument("--tune", action="store_true",
                    help="predict all candidate pairs and sweep thresholds (not timed; 10k only)")
    a = ap.parse_args()

    import logging
    logging.getLogger("splink").setLevel(logging.WARNING)

    ph = {}
    t = time.perf_counter()
    df, truth = load(a.csv)
    ph["load_normalise"] = time.perf_counter() - t

    t = time.perf_counter()
    linker = Linker(df, settings(), db_api=DuckDBAPI())
    linker.training.estimate_probability_two_random_records_match(
        [block_on("fam_kana", "given_kana", "bd")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=a.u_max_pairs, seed=a.seed)
    for rule in (block_on("fam_kana", "bd"), block_on("bd", "given_kana"),
                 block_on("fam_kana", "given_kana")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True)
    ph["train"] = time.perf_counter() - t

    record_ids = df["record_id"].tolist()
    if a.tune:
        pred = linker.inference.predict()
        pdf = pred.as_pandas_dataframe()[["record_id_l", "record_id_r", "match_probability"]]
        pid = dict(zip(record_ids, truth))
        same = [pid[x] == pid[y] for x, y in zip(pdf["record_id_l"], pdf["record_id_r"])]
        true_pairs = pairwise_metrics(truth, record_ids)["true_pairs"]
        print(json.dumps({"tool": "splink", "candidate_pairs": len(pdf),
                          "blocking_recall": round(sum(same) / max(true_pairs, 1), 4)}))
        for th in (0.5, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999):
            cl_df = linker.clustering.cluster_pairwise_predictions_at_threshold(
                pred, threshold_match_probability=th).as_pandas_dataframe()
            m = pairwise_metrics(truth, labels_from_clusters(cl_df, record_ids))
            print(json.dumps({"threshold": th, **{k: (round(v, 4) if isinstance(v, float) else v)
                                                  for k, v in m.items()}}))
        return

    t = time.perf_counter()
    pred = linker.inference.predict(threshold_match_probability=min(0.5, a.threshold))
    ph["predict"] = time.perf_counter() - t
    t = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pred, threshold_match_probability=a.threshold)
    cl_df = clusters.as_pandas_dataframe()[["record_id", "cluster_id"]]
    ph["cluster"] = time.perf_counter() - t

    t = time.perf_counter()
    m = pairwise_metrics(truth, labels_from_clusters(cl_df, record_ids))
    ph["metrics"] = time.perf_counter() - t
    pipeline = ph["load_normalise"] + ph["train"] + ph["predict"] + ph["cluster"]
    out = {
        "tool": "splink", "records": len(df), "threshold": a.threshold,
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()},
        "s": {"import": round(IMPORT_S, 2), **{k: round(v, 2) for k, v in ph.items()},
              "pipeline": round(pipeline, 2)},
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
