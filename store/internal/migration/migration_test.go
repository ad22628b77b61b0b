package migration

import (
	"maps"
	"slices"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name     string
		files    fstest.MapFS
		want     []int64
		wantFail bool
	}{
		{
			name: "migrations come back sorted by version, not by name",
			files: fstest.MapFS{
				"m/10_later.sql": {Data: []byte("b")},
				"m/2_early.sql":  {Data: []byte("a")},
				"m/README.md":    {Data: []byte("ignored")},
			},
			want: []int64{2, 10},
		},
		{
			name:     "a file without a version prefix is refused",
			files:    fstest.MapFS{"m/init.sql": {}},
			wantFail: true,
		},
		{
			name:     "a zero version is refused",
			files:    fstest.MapFS{"m/0000_init.sql": {}},
			wantFail: true,
		},
		{
			name: "two files with one version are refused",
			files: fstest.MapFS{
				"m/0001_a.sql": {},
				"m/1_b.sql":    {},
			},
			wantFail: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Load(tt.files, "m")
			if tt.wantFail {
				if err == nil {
					t.Fatalf("Load() = %v, want an error", ms)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(): %v", err)
			}
			var got []int64
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("versions = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("versions = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestPlan(t *testing.T) {
	ms := []Migration{
		{Version: 1, Name: "0001_init.sql"},
		{Version: 5, Name: "0005_search.sql"},
		{Version: 6, Name: "0006_words.sql"},
		{Version: 8, Name: "0008_bytes.sql"},
	}
	versions := func(ms []Migration) []int64 {
		var vs []int64
		for _, m := range ms {
			vs = append(vs, m.Version)
		}
		return vs
	}
	tests := []struct {
		name         string
		applied      []Record
		through      int64
		wantApply    []int64
		wantRenumber map[int64]int64 // recorded version: new version
	}{
		{name: "a new database gets every migration", wantApply: []int64{1, 5, 6, 8}},
		{name: "through stops at its version", through: 5, wantApply: []int64{1, 5}},
		{
			name:      "a database at the current numbering gets what it lacks",
			applied:   []Record{{1, "0001_init.sql"}, {5, "0005_search.sql"}},
			wantApply: []int64{6, 8},
		},
		{
			name: "records of an earlier numbering are renumbered, and a migration that took a recorded version is applied",
			applied: []Record{{1, "0001_init.sql"}, {5, "0005_words.sql"}, {6, "0006_bytes.sql"},
				{99, "0099_later_release.sql"}},
			wantApply:    []int64{5},
			wantRenumber: map[int64]int64{5: 6, 6: 8},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			apply, renumber := Plan(ms, tt.applied, tt.through)
			if got := versions(apply); !slices.Equal(got, tt.wantApply) {
				t.Errorf("apply %v, want %v", got, tt.wantApply)
			}
			got := map[int64]int64{}
			for _, r := range renumber {
				got[r.From.Version] = r.To.Version
			}
			if len(got) != len(tt.wantRenumber) || !maps.Equal(got, tt.wantRenumber) {
				t.Errorf("renumber %v, want %v", got, tt.wantRenumber)
			}
		})
	}
}
