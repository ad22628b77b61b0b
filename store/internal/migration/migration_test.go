package migration

import (
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
