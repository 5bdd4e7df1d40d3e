"""Merged Bodea tables for the SQL peers, computed from the CSV exports alone (untimed, like Rapport's unify).

The rules are the audience contract written at the top of crates/rapport/tests/support/bodea_oracle.rs:

1. A row is rejected if it cannot be read (wrong field count), its id is empty, a date/datetime column is
   non-empty and invalid in its system's format, or a boolean column is non-empty and not true/false.
2. Person records are the accepted Salesforce contacts, Dynamics contacts and Marketo leads, keyed
   {id}@{instance}.{System}. Records sharing a non-empty normalized e-mail (trim + lower-case) are one person;
   a record without e-mail is a person on its own.
3. A person's department is the (trimmed, non-empty) department of its record with the latest modification time.
4. A person's accounts are the non-empty account references of its records.
5. An account has an open opportunity if an accepted opportunity row references it with Salesforce
   IsClosed = false or Dynamics statecode = 0.

It writes four CSV files that DuckDB and PostgreSQL load as they are:

    persons.csv          pid, department, primary_key, email, first_name, last_name
    person_accounts.csv  pid, account_key
    opportunities.csv    opportunity_key, account_key, is_open
    accounts.csv         account_key, name

Names follow the same rule as the department (latest non-empty value); `primary_key` is the person's first
record in Salesforce, Dynamics, Marketo order. Only the counts are cross-checked; these columns give the
export peer the same five columns to write as Rapport.
"""

import csv
import datetime
import os
import re

SALESFORCE_ORG_ID = "00D5g00000BodeaEAB"
DYNAMICS_ORG_ID = "3c5b0dea-8f21-4e7a-9d6c-0a1b2c3d4e5f"
MARKETO_MUNCHKIN_ID = "123-BOD-456"

_SF_DATETIME = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{3})Z$")
_SF_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_MKTO_DATETIME = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z$")
_DYN_DATE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")
_DYN_DATETIME = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4}) ([0-9]{1,2}):([0-9]{2}):([0-9]{2}) (AM|PM)$")


def parse_date(fmt, text):
    """The datetime `text` denotes in format `fmt`, or None when it is not valid in that format."""
    try:
        if fmt == "sf_datetime":
            m = _SF_DATETIME.match(text)
            if m:
                y, mo, d, h, mi, s, ms = (int(g) for g in m.groups())
                return datetime.datetime(y, mo, d, h, mi, s, ms * 1000)
        elif fmt == "sf_date":
            m = _SF_DATE.match(text)
            if m:
                return datetime.datetime(*(int(g) for g in m.groups()))
        elif fmt == "mkto_datetime":
            m = _MKTO_DATETIME.match(text)
            if m:
                return datetime.datetime(*(int(g) for g in m.groups()))
        elif fmt == "dyn_date":
            m = _DYN_DATE.match(text)
            if m:
                mo, d, y = (int(g) for g in m.groups())
                return datetime.datetime(y, mo, d)
        elif fmt == "dyn_datetime":
            m = _DYN_DATETIME.match(text)
            if m:
                mo, d, y, h, mi, s = (int(g) for g in m.groups()[:6])
                if not 1 <= h <= 12:
                    return None
                h = h % 12 + (12 if m.group(7) == "PM" else 0)
                return datetime.datetime(y, mo, d, h, mi, s)
    except ValueError:  # an impossible date such as 2024-02-30
        return None
    return None


# Per file: id column, date columns with formats, boolean columns (rule 1).
RULES = {
    "salesforce/Contact.csv": ("Id", [("CreatedDate", "sf_datetime"), ("LastModifiedDate", "sf_datetime")], []),
    "salesforce/Opportunity.csv": (
        "Id",
        [("CloseDate", "sf_date"), ("CreatedDate", "sf_datetime"), ("LastModifiedDate", "sf_datetime")],
        ["IsClosed", "IsWon"],
    ),
    "salesforce/Account.csv": ("Id", [("CreatedDate", "sf_datetime"), ("LastModifiedDate", "sf_datetime")], []),
    "dynamics/contacts.csv": ("contactid", [("createdon", "dyn_datetime"), ("modifiedon", "dyn_datetime")], []),
    "dynamics/opportunities.csv": (
        "opportunityid",
        [("estimatedclosedate", "dyn_date"), ("createdon", "dyn_datetime"), ("modifiedon", "dyn_datetime")],
        [],
    ),
    "dynamics/accounts.csv": ("accountid", [("createdon", "dyn_datetime"), ("modifiedon", "dyn_datetime")], []),
    "marketo/leads.csv": ("id", [("createdAt", "mkto_datetime"), ("updatedAt", "mkto_datetime")], ["unsubscribed"]),
}


def accepted_rows(folder, path):
    """The rows of `folder/path` that pass rule 1, as dicts, in file order."""
    id_col, dates, booleans = RULES[path]
    with open(os.path.join(folder, path), newline="", encoding="utf-8") as f:
        reader = csv.reader(f, strict=True)
        header = next(reader)
        for row in reader:
            if len(row) != len(header):
                continue
            r = dict(zip(header, row))
            if r[id_col] == "":
                continue
            if any(r[c] != "" and parse_date(fmt, r[c]) is None for c, fmt in dates):
                continue
            if any(r[c] not in ("", "true", "false") for c in booleans):
                continue
            yield r


# (file, system, instance, email, department, modified, format, account, first name, last name)
PERSON_FILES = [
    ("salesforce/Contact.csv", "Salesforce", SALESFORCE_ORG_ID, "Id", "Email", "Department", "LastModifiedDate",
     "sf_datetime", "AccountId", "FirstName", "LastName"),
    ("dynamics/contacts.csv", "Dynamics", DYNAMICS_ORG_ID, "contactid", "emailaddress1", "department", "modifiedon",
     "dyn_datetime", "parentcustomerid", "firstname", "lastname"),
    ("marketo/leads.csv", "Marketo", MARKETO_MUNCHKIN_ID, "id", "email", "department", "updatedAt",
     "mkto_datetime", None, "firstName", "lastName"),
]


def _latest(records, field):
    """The trimmed, non-empty value of `field` on the most recently modified record that has one ("" if none)."""
    best, best_time = "", None
    for r in records:
        value = r[field]
        if value and (best_time is None or (r["modified"] or datetime.datetime.min) > best_time):
            best, best_time = value, r["modified"] or datetime.datetime.min
    return best


def prepare(bodea_dir, out_dir):
    """Writes the merged tables into `out_dir`; returns their row counts."""
    os.makedirs(out_dir, exist_ok=True)
    records = []
    for (path, system, instance, id_col, email, dept, modified, fmt, account, first, last) in PERSON_FILES:
        for row in accepted_rows(bodea_dir, path):
            acct = row[account].strip() if account else ""
            records.append({
                "key": f"{row[id_col]}@{instance}.{system}",
                "email": row[email].strip().lower(),
                "department": row[dept].strip(),
                "modified": parse_date(fmt, row[modified]),
                "account": f"{acct}@{instance}.{system}" if acct else "",
                "first": row[first].strip(),
                "last": row[last].strip(),
            })

    # Rule 2: one person per normalized e-mail; a record without e-mail is a person on its own.
    persons, by_email = [], {}
    for r in records:
        if not r["email"]:
            persons.append([r])
        elif r["email"] in by_email:
            by_email[r["email"]].append(r)
        else:
            group = [r]
            by_email[r["email"]] = group
            persons.append(group)

    n_links = 0
    with open(os.path.join(out_dir, "persons.csv"), "w", newline="", encoding="utf-8") as fp, \
            open(os.path.join(out_dir, "person_accounts.csv"), "w", newline="", encoding="utf-8") as fa:
        wp, wa = csv.writer(fp), csv.writer(fa)
        wp.writerow(["pid", "department", "primary_key", "email", "first_name", "last_name"])
        wa.writerow(["pid", "account_key"])
        for pid, group in enumerate(persons):
            wp.writerow([pid, _latest(group, "department"), group[0]["key"], group[0]["email"],
                         _latest(group, "first"), _latest(group, "last")])
            for account in sorted({r["account"] for r in group if r["account"]}):
                wa.writerow([pid, account])
                n_links += 1

    n_opps = 0
    with open(os.path.join(out_dir, "opportunities.csv"), "w", newline="", encoding="utf-8") as fo:
        w = csv.writer(fo)
        w.writerow(["opportunity_key", "account_key", "is_open"])
        for row in accepted_rows(bodea_dir, "salesforce/Opportunity.csv"):
            acct = row["AccountId"].strip()
            w.writerow([f"{row['Id']}@{SALESFORCE_ORG_ID}.Salesforce",
                        f"{acct}@{SALESFORCE_ORG_ID}.Salesforce" if acct else "",
                        "true" if row["IsClosed"] == "false" else "false"])
            n_opps += 1
        for row in accepted_rows(bodea_dir, "dynamics/opportunities.csv"):
            acct = row["parentaccountid"].strip()
            w.writerow([f"{row['opportunityid']}@{DYNAMICS_ORG_ID}.Dynamics",
                        f"{acct}@{DYNAMICS_ORG_ID}.Dynamics" if acct else "",
                        "true" if row["statecode"].strip() == "0" else "false"])
            n_opps += 1

    n_accounts = 0
    with open(os.path.join(out_dir, "accounts.csv"), "w", newline="", encoding="utf-8") as fc:
        w = csv.writer(fc)
        w.writerow(["account_key", "name"])
        for path, id_col, name, instance, system in [
            ("salesforce/Account.csv", "Id", "Name", SALESFORCE_ORG_ID, "Salesforce"),
            ("dynamics/accounts.csv", "accountid", "name", DYNAMICS_ORG_ID, "Dynamics"),
        ]:
            for row in accepted_rows(bodea_dir, path):
                w.writerow([f"{row[id_col]}@{instance}.{system}", row[name].strip()])
                n_accounts += 1

    return {"persons": len(persons), "person_accounts": n_links, "opportunities": n_opps, "accounts": n_accounts}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(prepare(sys.argv[1], sys.argv[2])))
