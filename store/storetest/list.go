package storetest

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

// byListOrder sorts files in the ListFiles order: CreatedAt desc, ID desc.
func byListOrder(a, b *store.File) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// walk lists every page of tenant's files with opts and returns them in
// order; it fails t on a page that breaks the paging contract.
func walk(t *testing.T, s store.Store, tenant string, opts store.ListOptions) []*store.File {
	t.Helper()
	var all []*store.File
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("ListFiles did not end after 1000 pages")
		}
		page, more, err := s.ListFiles(t.Context(), tenant, opts)
		if err != nil {
			t.Fatalf("ListFiles(page %d): %v", pages+1, err)
		}
		if len(page) > opts.Limit {
			t.Fatalf("page %d has %d files, more than the limit %d", pages+1, len(page), opts.Limit)
		}
		if more && len(page) < opts.Limit {
			t.Fatalf("page %d has %d files and more=true; a page before the last must be full (%d)", pages+1, len(page), opts.Limit)
		}
		if !more && len(page) == 0 && pages > 0 {
			t.Fatalf("page %d is empty: the page before it should have said more=false", pages+1)
		}
		all = append(all, page...)
		if !more {
			return all
		}
		last := page[len(page)-1]
		opts.After = &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

func testListFiles(t *testing.T, newStore func(*testing.T) store.Store) {
	t.Run("walking every page yields each file once in CreatedAt then ID order, newest first", func(t *testing.T) {
		s := newStore(t)
		var want []*store.File
		for i := range 23 {
			f := newFile(tenantA)
			// Groups of four files share a CreatedAt, so the ID decides.
			f.CreatedAt = base.Add(time.Duration(i/4) * time.Second)
			mustCreate(t, s, f)
			want = append(want, f)
			g := newFile(tenantB) // interleaved noise from another tenant
			g.CreatedAt = f.CreatedAt
			mustCreate(t, s, g)
		}
		slices.SortFunc(want, byListOrder)
		for _, limit := range []int{1, 2, 3, 4, 7, 23, 24, 100} {
			got := walk(t, s, tenantA, store.ListOptions{Limit: limit})
			if !slices.Equal(ids(got), ids(want)) {
				t.Errorf("limit %d: walked\n  %v\nwant\n  %v", limit, ids(got), ids(want))
			}
		}
	})

	t.Run("a full last page says no more follow", func(t *testing.T) {
		s := newStore(t)
		for range 4 {
			mustCreate(t, s, newFile(tenantA))
		}
		first, more, err := s.ListFiles(t.Context(), tenantA, store.ListOptions{Limit: 2})
		wantErr(t, "ListFiles", err, nil)
		if len(first) != 2 || !more {
			t.Fatalf("first page: %d files, more=%v; want 2, true", len(first), more)
		}
		last := first[1]
		second, more, err := s.ListFiles(t.Context(), tenantA, store.ListOptions{Limit: 2, After: &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}})
		wantErr(t, "ListFiles", err, nil)
		if len(second) != 2 || more {
			t.Fatalf("second page: %d files, more=%v; want 2, false", len(second), more)
		}
	})

	t.Run("an empty tenant lists nothing", func(t *testing.T) {
		s := newStore(t)
		files, more, err := s.ListFiles(t.Context(), tenantA, store.ListOptions{Limit: 10})
		wantErr(t, "ListFiles", err, nil)
		if len(files) != 0 || more {
			t.Fatalf("ListFiles = %v, more %v; want nothing", ids(files), more)
		}
	})

	t.Run("a non-positive limit is an error", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, newFile(tenantA))
		for _, limit := range []int{0, -1} {
			if _, _, err := s.ListFiles(t.Context(), tenantA, store.ListOptions{Limit: limit}); err == nil {
				t.Errorf("ListFiles with limit %d succeeded, want an error", limit)
			}
		}
	})

	type spec struct {
		name     string
		category string
		state    store.State
		scope    string
	}
	const (
		app1 = "files/application_id=1"
		app2 = "files/application_id=2"
	)
	corpus := []spec{
		{"Annual Report", "documents", store.StateReady, app1},
		{"report-draft", "documents", store.StatePending, app1},
		{"REPORTS 2024", "images", store.StateReady, app2},
		{"100% done", "documents", store.StateReady, ""},
		{"1000 done", "documents", store.StateFailed, app2},
		{"file_name", "images", store.StateReady, app1},
		{"fileXname", "images", store.StatePending, ""},
		{`back\slash`, "documents", store.StateExpired, app1},
		{"Été à Paris", "images", store.StateReady, app2},
		{"Annual Report", "images", store.StateFailed, app2},
	}
	filters := []struct {
		name string
		opts store.ListOptions
		want []string
	}{
		{"filtering by category returns only that category", store.ListOptions{Category: "images"},
			[]string{"REPORTS 2024", "file_name", "fileXname", "Été à Paris", "Annual Report"}},
		{"filtering by state returns only that state", store.ListOptions{State: store.StatePending},
			[]string{"report-draft", "fileXname"}},
		{"name search ignores case", store.ListOptions{NameContains: "RePoRt"},
			[]string{"Annual Report", "Annual Report", "report-draft", "REPORTS 2024"}},
		{"name search ignores case in non-ASCII letters", store.ListOptions{NameContains: "ÉTÉ"},
			[]string{"Été à Paris"}},
		{"a percent sign in the search text matches only itself", store.ListOptions{NameContains: "100%"},
			[]string{"100% done"}},
		{"an underscore in the search text matches only itself", store.ListOptions{NameContains: "e_n"},
			[]string{"file_name"}},
		{"a backslash in the search text matches only itself", store.ListOptions{NameContains: `\`},
			[]string{`back\slash`}},
		{"a search that matches nothing returns nothing", store.ListOptions{NameContains: "%%"},
			nil},
		{"filters combine", store.ListOptions{Category: "documents", State: store.StateReady, NameContains: "report"},
			[]string{"Annual Report"}},
		{"filtering by scope returns only that scope, whatever the state", store.ListOptions{Scope: app1},
			[]string{"Annual Report", "report-draft", "file_name", `back\slash`}},
		{"a scope that no file has lists nothing", store.ListOptions{Scope: "files/application_id=3"},
			nil},
		{"a scope filter is no prefix match", store.ListOptions{Scope: "files/application_id="},
			nil},
		{"filtering by display name returns every file with exactly that name", store.ListOptions{DisplayName: "Annual Report"},
			[]string{"Annual Report", "Annual Report"}},
		{"a display name filter is case-sensitive", store.ListOptions{DisplayName: "annual report"},
			nil},
		{"a display name filter matches no part of a name", store.ListOptions{DisplayName: "Annual"},
			nil},
		{"an underscore in a display name filter matches only itself", store.ListOptions{DisplayName: "file_name"},
			[]string{"file_name"}},
		{"scope and display name filters combine", store.ListOptions{Scope: app2, DisplayName: "Annual Report"},
			[]string{"Annual Report"}},
		{"a scope filter combines with category, state and name search", store.ListOptions{Scope: app1, Category: "documents", NameContains: "report"},
			[]string{"Annual Report", "report-draft"}},
		{"a display name filter combines with state", store.ListOptions{DisplayName: "Annual Report", State: store.StateFailed},
			[]string{"Annual Report"}},
	}
	for _, tt := range filters {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			for i, c := range corpus {
				f := newFile(tenantA)
				f.DisplayName, f.Category, f.State, f.Scope = c.name, c.category, c.state, c.scope
				f.CreatedAt = base.Add(time.Duration(i%3) * time.Second)
				mustCreate(t, s, f)
				g := newFile(tenantB) // the same names in another tenant
				g.DisplayName, g.Category, g.State, g.Scope = c.name, c.category, c.state, c.scope
				mustCreate(t, s, g)
			}
			want := slices.Clone(tt.want)
			slices.Sort(want)
			// A one-file page size proves filters and the cursor compose.
			for _, limit := range []int{1, 100} {
				opts := tt.opts
				opts.Limit = limit
				got := walk(t, s, tenantA, opts)
				if !slices.Equal(names(got), want) {
					t.Errorf("limit %d: got %q, want %q", limit, names(got), want)
				}
				if !slices.IsSortedFunc(got, byListOrder) {
					t.Errorf("limit %d: files out of order: %v", limit, ids(got))
				}
			}
		})
	}
}

// testListRareNames checks name search among many files, where a driver
// may look names up in an index rather than walk the list: a rare text
// deep in the list is found, whatever the case, other tenants' files are
// not, and renames and deletes are seen at once.
func testListRareNames(t *testing.T, newStore func(*testing.T) store.Store) {
	t.Run("a rare name among many files is found, and renames and deletes are seen", func(t *testing.T) {
		s := newStore(t)
		const n = 400
		var rare, renamed *store.File
		for i := range n {
			f := newFile(tenantA)
			f.DisplayName = "file " + strconv.Itoa(i)
			f.CreatedAt = base.Add(time.Duration(i) * time.Second)
			switch i {
			case 17: // deep in the list, newest first
				f.DisplayName = `Été "quoted" Rapport`
				rare = f
			case 18:
				renamed = f
			}
			mustCreate(t, s, f)
		}
		g := newFile(tenantB)
		g.DisplayName = `Été "quoted" Rapport`
		mustCreate(t, s, g)
		search := func(text string, opts store.ListOptions) []string {
			opts.NameContains, opts.Limit = text, 3
			return ids(walk(t, s, tenantA, opts))
		}
		for _, text := range []string{`ÉTÉ "QUOTED" r`, `"quoted"`, `é "q`, "rapport"} {
			if got := search(text, store.ListOptions{}); !slices.Equal(got, []string{rare.ID}) {
				t.Errorf("search %q = %v, want [%s]", text, got, rare.ID)
			}
		}
		if got := search("rapport", store.ListOptions{Category: "no such category"}); len(got) != 0 {
			t.Errorf("search with a category no file has = %v, want nothing", got)
		}
		if _, err := s.UpdateFile(t.Context(), tenantA, renamed.ID, func(f *store.File) error {
			f.DisplayName = "Second RAPPORT"
			return nil
		}); err != nil {
			t.Fatalf("UpdateFile: %v", err)
		}
		if got := search("rapport", store.ListOptions{}); !slices.Equal(got, []string{renamed.ID, rare.ID}) {
			t.Errorf("search after a rename = %v, want [%s %s]", got, renamed.ID, rare.ID)
		}
		if got := search("file 18", store.ListOptions{}); slices.Contains(got, renamed.ID) {
			t.Errorf("search for the old name still finds the renamed file: %v", got)
		}
		if err := s.DeleteFile(t.Context(), tenantA, rare.ID); err != nil {
			t.Fatalf("DeleteFile: %v", err)
		}
		if got := search("rapport", store.ListOptions{}); !slices.Equal(got, []string{renamed.ID}) {
			t.Errorf("search after a delete = %v, want [%s]", got, renamed.ID)
		}
		if got := search("file 1", store.ListOptions{}); len(got) != 109 {
			t.Errorf("search for a common text found %d files, want 109", len(got))
		}
	})

	// A driver may look the words of a text up in a word index, with the
	// word the text ends in as a prefix (see store/internal/words), and
	// check the names it finds; each text below is rare, so it is looked
	// up rather than walked to. The names hold words that are a prefix of
	// others, punctuation, non-ASCII letters and marks, and a word longer
	// than a driver may keep; the answer is what a scan of the names gives.
	t.Run("texts with whole words, prefixes and parts of words find exactly the names that hold them", func(t *testing.T) {
		s := newStore(t)
		long := strings.Repeat("ab", 300) // a 600-character word
		special := []string{
			`Été "quoted" Rapport`,
			"Q2 Report_2024.final.PDF",
			"quarterly-report 2024.pdf",
			"rapports 2024",
			"naïve café menu.txt",
			"日本 語の ファイル.txt",
			"see x–y notes",
			"a port of call",
			"x " + long + "c tail",
			"x " + long + "d tail",
			"trip to İstanbul 2023",
		}
		live := map[string]*store.File{}
		create := func(tenant, name string, at time.Time) *store.File {
			f := newFile(tenant)
			f.DisplayName, f.CreatedAt = name, at
			mustCreate(t, s, f)
			if tenant == tenantA {
				live[f.ID] = f
			}
			return f
		}
		byName := map[string]*store.File{}
		for i, name := range special { // the oldest files, deep in the list
			byName[name] = create(tenantA, name, base.Add(time.Duration(i)*time.Second))
			create(tenantB, name, base.Add(time.Duration(i)*time.Second))
		}
		// Every ASCII character other than a letter or digit (but NUL)
		// ends a word: "w<c>s<code>x<c>z" has the word "s<code>x".
		var bounded []string
		for c := rune(1); c < 128; c++ {
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
				continue
			}
			word := "s" + strconv.Itoa(int(c)) + "X"
			create(tenantA, "w"+string(c)+word+string(c)+"z", base.Add(time.Minute+time.Duration(c)*time.Second))
			bounded = append(bounded, string(c)+word+string(c), string(c)+strings.ToLower(word))
		}
		for i := range 300 {
			create(tenantA, "file "+strconv.Itoa(i), base.Add(time.Hour+time.Duration(i)*time.Second))
		}
		check := func(when string, texts ...string) {
			t.Helper()
			for _, text := range texts {
				var want []*store.File
				for _, f := range live {
					if strings.Contains(strings.ToLower(f.DisplayName), strings.ToLower(text)) {
						want = append(want, f)
					}
				}
				slices.SortFunc(want, byListOrder)
				got := walk(t, s, tenantA, store.ListOptions{NameContains: text, Limit: 3})
				if !slices.Equal(ids(got), ids(want)) {
					t.Errorf("%s: search %q = %q, want %q", when, text, names(got), names(want))
				}
			}
		}
		texts := []string{
			"report_2024.", " report_2024.", "q2 report_2024.final.p", " 2024.", "2024", "rapport", " rapport ", `" rapport`, "e-report 2",
			"ort 20", "file 12", " port ", "port", "PORT OF",
			"naïve café ", "ïve caf", "CAFÉ MENU", "語の ファ", " 語の ", "日本 語の ファイル",
			"e x–y n", "x–y", "x–y notes",
			" " + long + "c ", " " + long, long[:40] + "d", long[1:] + "c",
			" İSTANBUL ", "to İstan", "istanbul",
		}
		check("after the creates", texts...)
		check("after the creates", bounded...)

		renamed := byName["quarterly-report 2024.pdf"]
		if _, err := s.UpdateFile(t.Context(), tenantA, renamed.ID, func(f *store.File) error {
			f.DisplayName = "Annual summary 2025.pdf"
			return nil
		}); err != nil {
			t.Fatalf("UpdateFile: %v", err)
		}
		renamed.DisplayName = "Annual summary 2025.pdf"
		deleted := byName["Q2 Report_2024.final.PDF"]
		if err := s.DeleteFile(t.Context(), tenantA, deleted.ID); err != nil {
			t.Fatalf("DeleteFile: %v", err)
		}
		delete(live, deleted.ID)
		// The old names are still tenant B's, which no search of tenant A
		// returns.
		check("after a rename and a delete", append(texts, "l summary 2025", " summary ", "summ", "report 2024.", ".final.")...)
	})
}
