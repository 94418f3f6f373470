"""What a database's schema is, read from its catalog, and what differs between two.

`snapshot` reads the `public` schema as objects ("function routed_to(p_installation bigint, ...)",
"column repositories.owner", "index repositories_owner_name_key", ...), each with named
attributes (a function's body, return type, language, volatility, security, search_path,
grants and comment; a column's type, nullability, default and collation; a constraint's or
an index's definition; a table's RLS flags and grants; policies; triggers; types).
`differences` compares two snapshots and names each object and attribute that differs, so a
failing comparison of `migrations/` with `schema/` says exactly what to fix. The migration
runner's own history table is not part of the schema and is left out.
"""

from __future__ import annotations

import difflib

import psycopg

Snapshot = dict[str, dict[str, str]]

# The runner's history (core/store/migration_history.py): created by `migrate`, not by SQL.
IGNORED_TABLES = ("backfill_schema_migrations",)

# Privileges as "grantee=privileges" (the owner named `owner`), sorted, from the effective ACL
# (a NULL ACL is read as the default it stands for), so equal rights compare equal.
_ACL = """
    SELECT coalesce(string_agg(entry, ' ' ORDER BY entry), '(none)')
      FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                        WHEN a.grantee = {owner} THEN 'owner'
                        ELSE pg_get_userbyid(a.grantee) END
                   || '=' || string_agg(a.privilege_type || CASE WHEN a.is_grantable
                                                                THEN '*' ELSE '' END,
                                        ',' ORDER BY a.privilege_type) AS entry
              FROM aclexplode(coalesce({acl}, acldefault({kind}, {owner}))) AS a
             GROUP BY a.grantee) AS e
"""


def _acl(acl: str, kind: str, owner: str) -> str:
    return "(" + _ACL.format(acl=acl, kind=kind, owner=owner) + ")"


_RELATION_KIND = "(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::\"char\""
_IGNORED = "ARRAY[" + ", ".join(f"'{t}'" for t in IGNORED_TABLES) + "]::name[]"

_QUERIES: dict[str, str] = {
    "schema": f"""
        SELECT 'schema ' || n.nspname, 'grants', {_acl("n.nspacl", "'n'", "n.nspowner")}
          FROM pg_namespace AS n WHERE n.nspname = 'public'
    """,
    "relation": f"""
        SELECT CASE c.relkind WHEN 'r' THEN 'table ' WHEN 'p' THEN 'table '
                              WHEN 'S' THEN 'sequence ' WHEN 'v' THEN 'view '
                              WHEN 'm' THEN 'materialized view ' ELSE 'relation ' END
               || c.relname,
               attr, value
          FROM pg_class AS c
         CROSS JOIN LATERAL (VALUES
               ('grants', {_acl("c.relacl", _RELATION_KIND, "c.relowner")}),
               ('row level security', c.relrowsecurity::text),
               ('forced row level security', c.relforcerowsecurity::text),
               ('definition', CASE WHEN c.relkind IN ('v', 'm')
                                   THEN pg_get_viewdef(c.oid) ELSE '' END),
               ('comment', coalesce(obj_description(c.oid, 'pg_class'), '(none)'))
         ) AS v(attr, value)
         WHERE c.relnamespace = 'public'::regnamespace
           AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
           AND NOT c.relname = ANY ({_IGNORED})
           AND NOT (c.relkind = 'S' AND attr IN ('row level security',
                                                 'forced row level security'))
    """,
    "sequence": """
        SELECT 'sequence ' || s.sequencename, attr, value
          FROM pg_sequences AS s
         CROSS JOIN LATERAL (VALUES
               ('type', s.data_type::text), ('start', s.start_value::text),
               ('increment', s.increment_by::text), ('min', s.min_value::text),
               ('max', s.max_value::text), ('cycle', s.cycle::text), ('cache', s.cache_size::text)
         ) AS v(attr, value)
         WHERE s.schemaname = 'public'
    """,
    "column": f"""
        SELECT 'column ' || c.relname || '.' || a.attname, attr, value
          FROM pg_attribute AS a
          JOIN pg_class AS c ON c.oid = a.attrelid
          LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         CROSS JOIN LATERAL (VALUES
               ('position', (SELECT count(*) FROM pg_attribute AS b
                              WHERE b.attrelid = a.attrelid AND b.attnum > 0
                                AND NOT b.attisdropped AND b.attnum <= a.attnum)::text),
               ('type', format_type(a.atttypid, a.atttypmod)),
               ('not null', a.attnotnull::text),
               ('default', coalesce(pg_get_expr(d.adbin, d.adrelid), '(none)')),
               ('identity', a.attidentity::text),
               ('generated', a.attgenerated::text),
               ('collation', coalesce((SELECT collname FROM pg_collation
                                        WHERE oid = a.attcollation), '(none)')),
               ('comment', coalesce(col_description(a.attrelid, a.attnum), '(none)')),
               ('grants', coalesce(array_to_string(a.attacl, ' '), '(none)'))
         ) AS v(attr, value)
         WHERE c.relnamespace = 'public'::regnamespace
           AND c.relkind IN ('r', 'p', 'v', 'm')
           AND NOT c.relname = ANY ({_IGNORED})
           AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "constraint": f"""
        SELECT 'constraint ' || c.relname || '.' || k.conname, 'definition',
               pg_get_constraintdef(k.oid)
          FROM pg_constraint AS k
          JOIN pg_class AS c ON c.oid = k.conrelid
         WHERE k.connamespace = 'public'::regnamespace AND NOT c.relname = ANY ({_IGNORED})
    """,
    "index": f"""
        SELECT 'index ' || i.relname, 'definition', pg_get_indexdef(i.oid)
          FROM pg_index AS x
          JOIN pg_class AS i ON i.oid = x.indexrelid
          JOIN pg_class AS t ON t.oid = x.indrelid
         WHERE i.relnamespace = 'public'::regnamespace AND NOT t.relname = ANY ({_IGNORED})
    """,
    "policy": """
        SELECT 'policy ' || c.relname || '.' || p.polname, attr, value
          FROM pg_policy AS p
          JOIN pg_class AS c ON c.oid = p.polrelid
         CROSS JOIN LATERAL (VALUES
               ('command', p.polcmd::text),
               ('permissive', p.polpermissive::text),
               ('roles', (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC'
                                                 ELSE pg_get_userbyid(r) END, ',' ORDER BY 1)
                            FROM unnest(p.polroles) AS r)),
               ('using', coalesce(pg_get_expr(p.polqual, p.polrelid), '(none)')),
               ('with check', coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '(none)'))
         ) AS v(attr, value)
         WHERE c.relnamespace = 'public'::regnamespace
    """,
    "trigger": """
        SELECT 'trigger ' || c.relname || '.' || t.tgname, attr, value
          FROM pg_trigger AS t
          JOIN pg_class AS c ON c.oid = t.tgrelid
         CROSS JOIN LATERAL (VALUES
               ('definition', pg_get_triggerdef(t.oid)),
               ('enabled', t.tgenabled::text)
         ) AS v(attr, value)
         WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
    """,
    "function": f"""
        SELECT 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid)
               || ')', attr, value
          FROM pg_proc AS p
          JOIN pg_language AS l ON l.oid = p.prolang
         CROSS JOIN LATERAL (VALUES
               ('kind', p.prokind::text),
               ('arguments', pg_get_function_arguments(p.oid)),
               ('returns', coalesce(pg_get_function_result(p.oid), '(none)')),
               ('language', l.lanname::text),
               ('volatility', p.provolatile::text),
               ('strict', p.proisstrict::text),
               ('parallel', p.proparallel::text),
               ('security definer', p.prosecdef::text),
               ('leakproof', p.proleakproof::text),
               ('config', coalesce(array_to_string(p.proconfig, ', '), '(none)')),
               ('body', p.prosrc),
               ('comment', coalesce(obj_description(p.oid, 'pg_proc'), '(none)')),
               ('grants', {_acl("p.proacl", "'f'", "p.proowner")})
         ) AS v(attr, value)
         WHERE p.pronamespace = 'public'::regnamespace
    """,
    "type": """
        SELECT 'type ' || t.typname, attr, value
          FROM pg_type AS t
         CROSS JOIN LATERAL (VALUES
               ('kind', t.typtype::text),
               ('labels', coalesce((SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
                                      FROM pg_enum AS e WHERE e.enumtypid = t.oid), '(none)')),
               ('base', CASE WHEN t.typtype = 'd'
                             THEN format_type(t.typbasetype, t.typtypmod) ELSE '' END),
               ('attributes', coalesce((SELECT string_agg(a.attname || ' '
                                                          || format_type(a.atttypid, a.atttypmod),
                                                          ', ' ORDER BY a.attnum)
                                          FROM pg_attribute AS a
                                         WHERE a.attrelid = t.typrelid AND a.attnum > 0
                                           AND NOT a.attisdropped), '(none)'))
         ) AS v(attr, value)
         WHERE t.typnamespace = 'public'::regnamespace
           AND t.typtype IN ('e', 'd', 'c', 'r', 'm')
           AND (t.typrelid = 0
                OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
    """,
    "extension": """
        SELECT 'extension ' || e.extname, 'version', e.extversion
          FROM pg_extension AS e WHERE e.extnamespace = 'public'::regnamespace
    """,
}


def snapshot(conn: psycopg.Connection) -> Snapshot:
    """The public schema of `conn`'s database: {object: {attribute: value}}."""
    objects: Snapshot = {}
    for query in _QUERIES.values():
        for name, attr, value in conn.execute(query).fetchall():  # type: ignore[arg-type]
            objects.setdefault(name, {})[attr] = value
    return objects


def differences(
    expected: Snapshot, actual: Snapshot, *, expected_name: str, actual_name: str
) -> list[str]:
    """One line (a body: a short diff) per object or attribute that differs."""
    found = []
    for name in sorted(expected.keys() | actual.keys()):
        if name not in actual:
            found.append(f"{name}: only in {expected_name}")
        elif name not in expected:
            found.append(f"{name}: only in {actual_name}")
        else:
            for attr in sorted(expected[name].keys() | actual[name].keys()):
                want, got = expected[name].get(attr), actual[name].get(attr)
                if want != got:
                    found.append(_describe(name, attr, want, got, expected_name, actual_name))
    return found


def _describe(
    name: str, attr: str, want: str | None, got: str | None, want_name: str, got_name: str
) -> str:
    if want is not None and got is not None and ("\n" in want or "\n" in got):
        diff = difflib.unified_diff(
            want.splitlines(), got.splitlines(), want_name, got_name, n=1, lineterm=""
        )
        lines = list(diff)[2:]
        shown = "\n    ".join(lines[:20] + (["..."] if len(lines) > 20 else []))
        return f"{name}: {attr} differs:\n    {shown}"
    return f"{name}: {attr} differs: {want_name} {want!r}, {got_name} {got!r}"
