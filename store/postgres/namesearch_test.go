package postgres_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/words"
	"github.com/presignd/presignd/store/postgres"
)

// connectTo returns a connection to uri with schema first on its
// search_path, closed when tb ends.
func connectTo(tb testing.TB, uri, schema string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), uri)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(tb.Context()) })
	if _, err := conn.Exec(tb.Context(), `SET search_path TO `+pgx.Identifier{schema}.Sanitize()); err != nil {
		tb.Fatal(err)
	}
	return conn
}

// TestNameWords checks that file_name_words (migration 0006) splits a name
// into the words store/internal/words finds in it, cut to WordLen
// characters: the words ListFiles looks up must be the index's.
func TestNameWords(t *testing.T) {
	uri := testURI(t)
	schema := tempSchema(t, uri)
	s, err := postgres.Open(t.Context(), postgres.Config{URI: uri, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn := connectTo(t, uri, schema)
	var all strings.Builder
	for c := rune(1); c < 128; c++ {
		all.WriteString("w" + strconv.Itoa(int(c)) + string(c))
	}
	names := []string{
		all.String(),
		"", "   ", "file 666667 hotel", "report_2024.final.pdf", `été "quoted" rapport`,
		"日本 語の ファイル.txt", "x–y\u00a0z", "i̇stanbul", "a\tb\nc\x7fd",
		"x " + strings.Repeat("é", 700) + " y", strings.Repeat("ab", 400),
	}
	for _, name := range names {
		var got []string
		if err := conn.QueryRow(t.Context(), `SELECT tsvector_to_array(file_name_words($1))`, name).Scan(&got); err != nil {
			t.Fatalf("file_name_words(%q): %v", name, err)
		}
		var want []string
		for _, w := range strings.FieldsFunc(name, words.IsSeparator) {
			if w = words.Truncate(w, postgres.WordLen); !slices.Contains(want, w) {
				want = append(want, w)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("file_name_words(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestNameSearchPlan checks that ListFiles looks a rare text with a whole
// word, or ending in a word's start, up in the word index (migration 0006),
// and walks the list for a common one.
func TestNameSearchPlan(t *testing.T) {
	uri := testURI(t)
	schema := tempSchema(t, uri)
	s, err := postgres.Open(t.Context(), postgres.Config{URI: uri, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		f := &store.File{ID: "f-" + strconv.Itoa(i), Tenant: "t", DisplayName: "file " + strconv.Itoa(i) + " report",
			State: store.StateReady, CreatedAt: base.Add(time.Duration(i) * time.Second)}
		if err := s.CreateFile(t.Context(), f, store.Quota{}); err != nil {
			t.Fatal(err)
		}
	}
	conn := connectTo(t, uri, schema)
	// A table this small might be scanned whole instead: then whether the
	// word index's scan ran would not tell which branch of the statement
	// did.
	if _, err := conn.Exec(t.Context(), `ANALYZE files; SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		text    string
		indexed bool
	}{
		{"file 17 ", true},
		{"file 170", true},
		{"e 17 r", true},
		{" report", false}, // every name has it: the walk fills a page
		{"file 17", false}, // "17" is too short a prefix: no word to look up
	} {
		q, args := postgres.ListQuery("t", store.ListOptions{Limit: 10, NameContains: c.text})
		rows, err := conn.Query(t.Context(), `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) `+q, args...)
		if err != nil {
			t.Fatalf("EXPLAIN %q: %v", c.text, err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("EXPLAIN %q: %v", c.text, err)
		}
		used := false
		for _, line := range plan {
			if strings.Contains(line, "Index Scan on files_name_words") && !strings.Contains(line, "never executed") {
				used = true
			}
		}
		if used != c.indexed {
			t.Errorf("search %q: word index scanned = %v, want %v; plan:\n%s", c.text, used, c.indexed, strings.Join(plan, "\n"))
		}
	}
}
