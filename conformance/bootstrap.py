"""Signs in as the demo hospital doctor, saves the session for the tests and prints the code
of the doctor's facility (for `renkei admin create-api-client --facility`).

    python3 bootstrap.py BASE_URL SERVER_STDOUT SESSION_FILE
"""

import re
import sys

import renkei_session

# "  hospital.doctor    菅原 和也 (医師, 苫小牧みなと総合病院)"
FEATURED = re.compile(r"^ {2}(\S+)\s+(.+?) \((.+?), (.+)\)$")


def main():
    base, server_stdout, session_file = sys.argv[1:4]
    facility = None
    care_office = None
    with open(server_stdout, encoding="utf-8") as f:
        for line in f:
            m = FEATURED.match(line.rstrip("\n"))
            if m and m.group(1) == renkei_session.LOGIN:
                facility = m.group(4)
            if m and m.group(1) == renkei_session.CARE_MANAGER:
                care_office = m.group(4)
    if facility is None:
        sys.exit(f"{renkei_session.LOGIN} is not among the demo accounts printed by the server")
    session = renkei_session.sign_in(base)
    code = renkei_session.facility_code(session, base, facility)
    renkei_session.save(
        session, session_file, facility_code=code, facility_name=facility, care_office_name=care_office
    )
    print(code)


if __name__ == "__main__":
    main()
