"""cdr_ingest: CDR sources (mod_json_cdr HTTP and files, mod_cdr_csv files), parsing, rating."""
