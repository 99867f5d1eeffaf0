#!/usr/bin/env python3
"""Synthetic SS-MIX2 standardized storage for bench/ssmix2.sh.

Replicates the real sample files in /work/shared/fixtures/ssmix2-nho-sample/storage (patient
9999013, only the data types Renkei maps to FHIR) across many synthetic patients. Files are
ISO-2022-JP: everything is done on bytes, segment by segment (CR-separated, '|' fields).

Per synthetic patient, consistently across all of that patient's files:
  * the patient ID in the path (`PID[0:3]/PID[3:6]/PID/…`) and in the file name;
  * PID-3.1 (ASCII) — the ID the collector registers under;
  * PID-5 (kanji and katakana names, re-encoded as ISO-2022-JP), PID-7 (birth date),
    PID-13/14 (phones) and IN1-11 (insured person's number), so that every synthetic
    patient is a different person to the patient index — otherwise ~2,000 identical
    "患者 太郎" would all fall into one blocking bucket and be scored against each other,
    which measures the matcher's worst case rather than the collector.
Everything else (orders, results, dates, order numbers) is the fixture's, byte for byte.
"""

import argparse
import os
import sys

FIXTURE = "/work/shared/fixtures/ssmix2-nho-sample/storage"
SOURCE_PID = "9999013"
DATA_TYPES = ["ADT-00", "ADT-22", "ADT-52", "ADT-61", "PPR-01",
              "OMP-01", "OMP-02", "OMP-11", "OMP-12", "OML-11", "OMG-13"]

FAMILY = [("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
          ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
          ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ"),
          ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ"),
          ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
          ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"),
          ("阿部", "アベ"), ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ")]
GIVEN = [("太郎", "タロウ", "M"), ("一郎", "イチロウ", "M"), ("健", "ケン", "M"),
         ("誠", "マコト", "M"), ("大輔", "ダイスケ", "M"), ("博", "ヒロシ", "M"),
         ("茂", "シゲル", "M"), ("勇", "イサム", "M"), ("花子", "ハナコ", "F"),
         ("洋子", "ヨウコ", "F"), ("恵子", "ケイコ", "F"), ("幸子", "サチコ", "F"),
         ("和子", "カズコ", "F"), ("久美子", "クミコ", "F"), ("由美", "ユミ", "F"),
         ("智子", "トモコ", "F")]


def patient_id(i):
    # Zero-padded and reversed: unique, and the first six characters (the two directory
    # levels) vary with the low digits, so patients spread over many directories.
    return f"{i:010d}"[::-1]


def person(i):
    fam = FAMILY[(i * 7) % len(FAMILY)]
    giv = GIVEN[(i * 11 + i // len(FAMILY)) % len(GIVEN)]
    day = (i * 37) % 25000
    import datetime
    birth = (datetime.date(1930, 1, 1) + datetime.timedelta(days=day)).strftime("%Y%m%d")
    name = f"{fam[0]}^{giv[0]}^^^^^L^I~{fam[1]}^{giv[1]}^^^^^L^P".encode("iso2022_jp")
    return {
        "name": name,
        "birth": birth.encode(),
        "sex": giv[2].encode(),
        "phone": f"0144-{10 + i % 90:02d}-{i % 10000:04d}".encode(),
        "insured": f"{i:08d}".encode(),
    }


def rewrite(content, pid, who):
    segments = content.split(b"\r")
    out = []
    for seg in segments:
        if seg.startswith(b"PID|"):
            f = seg.split(b"|")
            while len(f) < 9:
                f.append(b"")
            comps = f[3].split(b"^")
            comps[0] = pid.encode()
            f[3] = b"^".join(comps)
            f[5] = who["name"]
            f[7] = who["birth"]
            f[8] = who["sex"]
            if len(f) > 13 and f[13]:
                f[13] = b"^PRN^PH^^^^^^^^^" + who["phone"]
            if len(f) > 14 and f[14]:
                f[14] = b"^WPN^PH^^^^^^^^^" + who["phone"]
            seg = b"|".join(f)
        elif seg.startswith(b"IN1|"):
            f = seg.split(b"|")
            while len(f) < 12:
                f.append(b"")
            f[11] = who["insured"]
            seg = b"|".join(f)
        out.append(seg)
    return b"\r".join(out)


def templates():
    base = os.path.join(FIXTURE, SOURCE_PID[0:3], SOURCE_PID[3:6], SOURCE_PID)
    found = []
    for date in sorted(os.listdir(base)):
        for dtype in sorted(os.listdir(os.path.join(base, date))):
            if dtype not in DATA_TYPES:
                continue
            d = os.path.join(base, date, dtype)
            for name in sorted(os.listdir(d)):
                assert name.startswith(SOURCE_PID + "_"), name
                with open(os.path.join(d, name), "rb") as fh:
                    found.append((date, dtype, name[len(SOURCE_PID):], fh.read()))
    return found


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="storage root to create (must not exist)")
    p.add_argument("--files", type=int, default=20000, help="at least this many files")
    args = p.parse_args()
    tpl = templates()
    types = sorted({t[1] for t in tpl})
    missing = set(DATA_TYPES) - set(types)
    if missing:
        sys.exit(f"ssmix2_gen: fixture lacks {sorted(missing)}")
    patients = -(-args.files // len(tpl))
    os.makedirs(args.out)
    n = 0
    for i in range(1, patients + 1):
        pid = patient_id(i)
        who = person(i)
        for date, dtype, rest, content in tpl:
            d = os.path.join(args.out, pid[0:3], pid[3:6], pid, date, dtype)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, pid + rest), "wb") as fh:
                fh.write(rewrite(content, pid, who))
            n += 1
    print(f"{n} {patients} {len(tpl)}")


if __name__ == "__main__":
    main()
