-- NameContains search, second index: the words of name_fold, for search
-- text that holds a whole word (or ends in the start of one). Looking a
-- text up in the trigram index (0005) reads the entries of every trigram
-- of it, and some, like those of "file ", are in most names; a word of the
-- text is often in few. ListFiles looks such a text up here and checks
-- every candidate's name again with strpos.
--
-- file_name_words splits a name at every ASCII character other than a
-- letter or digit, as the driver does (store/internal/words); every
-- non-ASCII character is part of a word. array_to_tsvector takes each word
-- as a lexeme as it is (to_tsvector's parser would cut names its own
-- way), so 'word' and 'word':* queries are exact and prefix matches of
-- words. A word is cut to 500 characters (a lexeme holds at most 2047
-- bytes); the driver cuts the words it looks up the same way.
--
-- PL/pgSQL, not SQL: PostgreSQL does not inline a SQL function with a
-- subquery, and parses and plans its body again in every statement that
-- calls it (each INSERT: about 80µs), where PL/pgSQL keeps its plan for
-- the session. It calls only pg_catalog functions, which every search_path
-- reaches.
CREATE FUNCTION file_name_words(name_fold text) RETURNS tsvector
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    BEGIN
        RETURN array_to_tsvector(ARRAY(
            SELECT left(w, 500)
            FROM regexp_split_to_table(name_fold, '[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+') AS w
            WHERE w <> ''));
    END
    $$;

-- fastupdate off: with it, a search reads the whole pending list (up to
-- gin_pending_list_limit, 4MB by default) of entries not yet merged, and
-- only VACUUM or an insert that overflows it merges them. A name has few
-- words, so merging each insert's entries at once costs little.
CREATE INDEX files_name_words ON files USING gin (file_name_words(name_fold)) WITH (fastupdate = off);
