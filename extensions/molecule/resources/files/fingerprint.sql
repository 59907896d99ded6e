-- Rows and an MD5 of the sorted rows of every table in the public schema,
-- as one JSON object keyed by table name.
SELECT coalesce(json_object_agg(tables.relname, json_build_object(
         'rows', (xpath('/row/rows/text()', tables.digest))[1]::text::bigint,
         'md5', (xpath('/row/md5/text()', tables.digest))[1]::text) ORDER BY tables.relname), '{}')
  FROM (SELECT c.relname, query_to_xml(format(
          'SELECT count(*) AS rows, md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) AS md5'
          ' FROM %I.%I AS t', n.nspname, c.relname), false, true, '') AS digest
          FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public') AS tables;
