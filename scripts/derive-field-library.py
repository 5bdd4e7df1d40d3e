#!/usr/bin/env python3
"""Derive Rapport's standard field library from the published XDM JSON Schemas.

Usage: python3 scripts/derive-field-library.py ../shared/reference/xdm > crates/rapport-schema/library/xdm-fields.json

Walks every class and field group under the given folder, resolves $ref / allOf / definitions / items,
drops the `xdm:` prefix from property names (records and PQL use the bare names) and writes other
namespace prefixes as a leading `_ns` segment (`schema:latitude` → `_schema.latitude`) and writes one flat list of
(path, type, format, enum) per class or field group. The output is Rapport's own format; the XDM files are
only read, never copied. Rerun it when the reference snapshot changes; a Rust test checks the output against
the reference when ../shared is present.
"""
import json
import os
import sys

root = sys.argv[1]
docs = {}
wanted = set()
for base, _, files in os.walk(root):
    for name in files:
        if name.endswith(".schema.json"):
            with open(os.path.join(base, name)) as f:
                doc = json.load(f)
            docs[doc["$id"]] = doc
            rel = os.path.relpath(os.path.join(base, name), root)
            if rel.startswith(("classes/", "fieldgroups/", "extensions/")) and "/datatypes/" not in rel:
                wanted.add(doc["$id"])


def strip(name):
    """The data path of a property: `xdm:x` is written `x`; any other namespace prefix `ns:x` is written
    `_ns.x` (as AEP writes `schema:latitude` as `_schema.latitude` and `marketo:URL` as `_marketo.URL`), and the
    JSON-LD `@id` is written `_id` (the mapping tables target `workAddress._id`)."""
    if "://" in name:
        # A URI key (the legacy opt-in channels): not a namespace prefix; the library loader skips such paths.
        return name
    if name.startswith("xdm:"):
        return name[len("xdm:"):]
    if name == "@id":
        return "_id"
    prefix, sep, rest = name.partition(":")
    if sep and prefix and "/" not in prefix:
        return f"_{prefix}.{rest}"
    return name


def resolve(node, doc):
    """Returns (schema node, its document) after following a $ref."""
    ref = node.get("$ref")
    if not ref:
        return node, doc
    if ref.startswith("#/definitions/"):
        return doc["definitions"][ref[len("#/definitions/"):]], doc
    if "#/definitions/" in ref:
        base, name = ref.split("#/definitions/")
        target = docs.get(base)
        if target is not None:
            return target["definitions"][name], target
    target = docs.get(ref)
    if target is None:
        raise SystemExit(f"unresolved $ref {ref}")
    return target, target


def properties(node, doc, seen):
    """Merged properties of an object node, following allOf and $ref."""
    node, doc = resolve(node, doc)
    out = {}
    for part in node.get("allOf", []):
        part_node, part_doc = resolve(part, doc)
        if part_node.get("$id") in seen:
            continue
        for name, parts in properties(part_node, part_doc, seen).items():
            out.setdefault(name, []).extend(parts)
    for name, prop in node.get("properties", {}).items():
        out.setdefault(name, []).append((prop, doc))
    return out


def required_names(node, doc, seen=frozenset()):
    """The property names an object node requires, following allOf and $ref."""
    node, doc = resolve(node, doc)
    names = list(node.get("required", []))
    for part in node.get("allOf", []):
        part_node, part_doc = resolve(part, doc)
        if part_node.get("$id") in seen:
            continue
        names += required_names(part_node, part_doc, seen | {part_node.get("$id")})
    return names


def mark_required(prefix, parts, required):
    """Records the required children of an object given by its declaring parts."""
    for p, d in parts:
        for name in required_names(p, d):
            path = f"{prefix}.{strip(name)}" if prefix else strip(name)
            if path not in required:
                required.append(path)


def walk(prefix, parts, fields, depth, required):
    """Flattens one property, given every (schema node, document) that declares it (objects merge)."""
    parts = [resolve(node, doc) for node, doc in parts]
    if len(parts) > 1 and all(p.get("type") in (None, "object") for p, _ in parts):
        fields.append({"path": prefix, "type": "object"})
        mark_required(prefix, parts, required)
        merged = {}
        for p, d in parts:
            for name, sub in properties(p, d, set()).items():
                merged.setdefault(name, []).extend(sub)
        for name, sub in merged.items():
            walk(f"{prefix}.{strip(name)}", sub, fields, depth + 1, required)
        return
    node, doc = parts[-1]
    if depth > 12:
        return
    kind = node.get("type")
    if kind == "array":
        items, items_doc = resolve(node.get("items", {}), doc)
        item_type = items.get("type", "object")
        if item_type == "object" and (items.get("properties") or items.get("allOf")):
            fields.append({"path": prefix, "type": "array<object>"})
            mark_required(prefix, [(items, items_doc)], required)
            for name, sub in properties(items, items_doc, set()).items():
                walk(f"{prefix}.{strip(name)}", sub, fields, depth + 1, required)
        else:
            fields.append({"path": prefix, "type": f"array<{items.get('meta:xdmType', item_type)}>"})
        return
    props = properties(node, doc, set()) if kind in (None, "object") else {}
    if kind == "object" and not props:
        fields.append({"path": prefix, "type": "map" if "additionalProperties" in node else "object"})
        return
    if props:
        if prefix:
            fields.append({"path": prefix, "type": "object"})
        mark_required(prefix, [(node, doc)], required)
        for name, sub in props.items():
            walk(f"{prefix}.{strip(name)}" if prefix else strip(name), sub, fields, depth + 1, required)
        return
    if kind is None and node.get("enum"):
        # No type but an enum (`sourceSystemType` in account-intent-details): the type of the values.
        kinds = {"boolean" if isinstance(v, bool) else "integer" if isinstance(v, int) else
                 "number" if isinstance(v, float) else "string" if isinstance(v, str) else None for v in node["enum"]}
        kind = kinds.pop() if len(kinds) == 1 else "number" if kinds == {"integer", "number"} else None
    field = {"path": prefix, "type": node.get("meta:xdmType", kind or "object")}
    for key in ("format", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern"):
        if key in node:
            field[key] = node[key]
    fields.append(field)


library = {}
for schema_id, doc in sorted(docs.items()):
    if schema_id not in wanted:
        continue
    fields = []
    required = []
    mark_required("", [(doc, doc)], required)
    for name, parts in properties(doc, doc, set()).items():
        walk(strip(name), parts, fields, 0, required)
    extends = doc.get("meta:extends", [])
    library[schema_id] = {
        "title": doc.get("title"),
        "kind": "class" if doc.get("meta:abstract") is True and "meta:intendedToExtend" not in doc else "fieldgroup",
        "extends": extends,
        "intendedToExtend": doc.get("meta:intendedToExtend", []),
        "fields": fields,
        "required": required,
    }
json.dump(library, sys.stdout, indent=1, ensure_ascii=False)
print()
