// Package migration reads the versioned schema migrations a store driver
// embeds. Each migration is one file named NNNN_description.sql, where NNNN
// is its version, a positive integer; drivers apply the versions a database
// has not recorded yet, in ascending order.
package migration

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change.
type Migration struct {
	Version int64
	Name    string // the file name without directory, e.g. "0001_init.sql"
	SQL     string
}

// Load returns the migrations in dir of fsys sorted by version. It fails on
// a .sql file whose name has no numeric version prefix, and on two files
// with the same version; files not ending in .sql are ignored.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	seen := map[int64]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		prefix, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: version %q is not a positive integer", name, prefix)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, name, v)
		}
		seen[v] = name
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Record is a migration as a database recorded it when it applied it.
type Record struct {
	Version int64
	Name    string
}

// Renumbering is a record made under an earlier numbering of the same
// migration: it is to be recorded under To's version and name instead.
type Renumbering struct {
	From Record
	To   Migration
}

// Plan returns what a database that recorded applied still needs from ms:
// the migrations to apply, in order (those up to version through only,
// when through is positive), and the records to renumber first.
//
// A migration is known by its description, the file name after its
// version: a record with the description of one of ms counts as that
// migration whatever version it carries, so a database migrated before
// the versions were renumbered is neither migrated twice nor missing a
// migration. Records of no migration in ms (a later release's) are left
// alone.
func Plan(ms []Migration, applied []Record, through int64) (apply []Migration, renumber []Renumbering) {
	byDescription := make(map[string]Record, len(applied))
	for _, r := range applied {
		byDescription[description(r.Name)] = r
	}
	for _, m := range ms {
		r, done := byDescription[description(m.Name)]
		switch {
		case done && (r.Version != m.Version || r.Name != m.Name):
			renumber = append(renumber, Renumbering{From: r, To: m})
		case done:
		case through <= 0 || m.Version <= through:
			apply = append(apply, m)
		}
	}
	return apply, renumber
}

// description is name without its version prefix.
func description(name string) string {
	_, d, _ := strings.Cut(name, "_")
	return d
}
