package sqlfiles

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/presignd/presignd/internal/groupcommit"
	"github.com/presignd/presignd/store"
)

func TestMapsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    map[string]string
		json []byte // what EncodeMaps stores; nil is NULL
	}{
		{name: "a nil map is NULL", m: nil, json: nil},
		{name: "an empty map is NULL", m: map[string]string{}, json: nil},
		{name: "entries are a JSON object", m: map[string]string{"a": "1"}, json: []byte(`{"a":"1"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner, metadata, err := EncodeMaps(&store.File{Owner: tt.m, Metadata: tt.m})
			if err != nil || !slices.Equal(owner, tt.json) || !slices.Equal(metadata, tt.json) {
				t.Fatalf("EncodeMaps = %q, %q, %v; want %q", owner, metadata, err, tt.json)
			}
			var r FileRow
			f, err := r.File(owner, metadata, [6]time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			want := tt.m
			if len(want) == 0 {
				want = nil
			}
			if !maps.Equal(f.Owner, want) || (f.Owner == nil) != (want == nil) || !maps.Equal(f.Metadata, want) {
				t.Errorf("read back %v, %v; want %v", f.Owner, f.Metadata, want)
			}
		})
	}
	t.Run("a malformed map names the file and the field", func(t *testing.T) {
		var r FileRow
		dest := r.Dest(nil, nil, [6]any{})
		*dest[0].(*string) = "f-1"
		if _, err := r.File([]byte(`{`), nil, [6]time.Time{}); err == nil || err.Error()[:14] != "file f-1 owner" {
			t.Errorf("File with a malformed owner: %v", err)
		}
	})
}

func TestPrepareCreate(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 6789, time.FixedZone("x", 3600))
	f := &store.File{Owner: map[string]string{}}
	if _, _, err := PrepareCreate(f, now); err != nil {
		t.Fatal(err)
	}
	want := now.Truncate(time.Microsecond).UTC()
	if !f.CreatedAt.Equal(want) || f.CreatedAt.Location() != time.UTC || !f.UpdatedAt.Equal(want) || f.Owner != nil {
		t.Errorf("PrepareCreate: created %v, updated %v, owner %v; want %v twice and nil", f.CreatedAt, f.UpdatedAt, f.Owner, want)
	}
}

func TestListsRoundTrip(t *testing.T) {
	for _, v := range [][]string{nil, {}, {"read", "write"}} {
		b, err := EncodeList(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeList(b)
		if err != nil || !slices.Equal(got, v) || (len(v) == 0 && (b != nil || got != nil)) {
			t.Errorf("%q: encoded %q, read back %q, %v", v, b, got, err)
		}
	}
}

func TestQuotaErrors(t *testing.T) {
	for _, err := range []error{TenantQuotaExceeded(5, 4), ScopeQuotaExceeded("s", 5, 4)} {
		if !errors.Is(err, store.ErrQuotaExceeded) {
			t.Errorf("%v is not ErrQuotaExceeded", err)
		}
	}
}

func TestCreateError(t *testing.T) {
	if err := CreateError("op", nil); err != nil {
		t.Errorf("CreateError(nil) = %v", err)
	}
	if err := CreateError("op", groupcommit.ErrClosed); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CreateError(ErrClosed) = %v, want ErrUnavailable", err)
	}
	if err := CreateError("op", store.ErrNameTaken); !errors.Is(err, store.ErrNameTaken) || err.Error()[:4] != "op: " {
		t.Errorf("CreateError(ErrNameTaken) = %v", err)
	}
}
