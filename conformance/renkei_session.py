"""Helpers of the conformance suite that need a person, not a system.

A system client (OAuth2 client credentials) writes and reads clinical resources, but
patients enter the network through a facility's registration (the patient index), and
PDQm Patient search answers signed-in people only. So the suite signs in once as the demo's
hospital doctor (published demo password + TOTP computed here, RFC 6238) and keeps that
session for registering test patients and for Patient search.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import struct
import time

import requests

DEMO_PASSWORD = "renkei-demo-2026"
DEMO_TOTP_SECRET = "RENKEIDEMORENKEIDEMORENKEIDEMO22"
# The featured hospital doctor of the demo network (see `renkei demo` output).
LOGIN = "hospital.doctor"
# The featured care manager (the documents test sends a referral letter to that office).
CARE_MANAGER = "caremanager"


def totp(secret, at=None):
    key = base64.b32decode(secret)
    counter = int((time.time() if at is None else at) // 30)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def csrf_of(html):
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "page has no CSRF field"
    return m.group(1)


def sign_in(base, login=LOGIN):
    """A requests.Session signed in as `login` (password, then the second factor)."""
    s = requests.Session()
    page = s.get(f"{base}/login").text
    r = s.post(
        f"{base}/login",
        data={"login_id": login, "password": DEMO_PASSWORD, "csrf": csrf_of(page), "next": "/"},
        allow_redirects=False,
    )
    assert r.status_code == 303, f"password stage for {login}: {r.status_code} {r.text[:300]}"
    # A code is good for its 30-second step; do not type one that is about to expire.
    if 30 - time.time() % 30 < 3:
        time.sleep(30 - time.time() % 30 + 0.2)
    page = s.get(f"{base}/login/second-factor").text
    r = s.post(
        f"{base}/login/second-factor",
        data={"code": totp(DEMO_TOTP_SECRET), "csrf": csrf_of(page), "next": "/"},
        allow_redirects=False,
    )
    assert r.status_code == 303, f"second factor for {login}: {r.status_code} {r.text[:300]}"
    return s


def save(session, path, **extra):
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"cookies": session.cookies.get_dict(), **extra}, f)


def load(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    s = requests.Session()
    s.cookies.update(data.pop("cookies"))
    return s, data


def register_patient(session, base, local_id, family_kanji, given_kanji, family_kana, given_kana, birth_date, sex="female"):
    """Registers a patient at the signed-in doctor's facility; returns the person ID."""
    form = {
        "csrf": csrf_of(session.get(f"{base}/account").text),
        "local_id": local_id,
        "family_kanji": family_kanji,
        "given_kanji": given_kanji,
        "family_kana": family_kana,
        "given_kana": given_kana,
        "birth_date": birth_date,
        "sex": sex,
        "postal_code": "053-0022",
        "address": "北海道苫小牧市表町1丁目2-3",
    }
    r = session.post(f"{base}/patients/new", data=form, allow_redirects=False)
    assert r.status_code == 303, f"registering {local_id}: {r.status_code} {r.text[:500]}"
    location = r.headers["location"]
    assert location.startswith("/patients/"), location
    return location[len("/patients/") :].split("?")[0]


def facility_code(session, base, name):
    """The code (F00042) of the facility called exactly `name`, from the JSON directory."""
    r = session.get(f"{base}/api/v1/facilities", params={"q": name})
    r.raise_for_status()
    codes = [f["code"] for f in r.json()["items"] if f["name"] == name]
    assert len(codes) == 1, f"facility {name!r}: {r.text[:300]}"
    return codes[0]


def env(name):
    value = os.environ.get(name)
    assert value, f"{name} is not set: run the suite with conformance/run.sh"
    return value
