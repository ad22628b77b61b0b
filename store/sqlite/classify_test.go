package sqlite

import "testing"

func TestIsNameTaken(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want bool
	}{
		{"a violation of the display-name index is a taken name",
			"constraint failed: UNIQUE constraint failed: files.tenant, files.name_scope, files.display_name (2067)", true},
		{"the columns in another order still name the display-name index",
			"UNIQUE constraint failed: files.display_name, files.tenant, files.name_scope", true},
		{"the display-name index named as an index is a taken name",
			"constraint failed: UNIQUE constraint failed: index 'files_name_taken' (2067)", true},
		{"a taken file ID is no taken name",
			"constraint failed: UNIQUE constraint failed: files.id (1555)", false},
		{"a taken request ID is no taken name",
			"constraint failed: UNIQUE constraint failed: files.tenant, files.request_id (2067)", false},
		{"a taken API key hash is no taken name",
			"constraint failed: UNIQUE constraint failed: api_keys.hash (2067)", false},
		{"an index on more columns than the display-name index is no taken name",
			"UNIQUE constraint failed: files.tenant, files.name_scope, files.display_name, files.scope (2067)", false},
		{"another table's columns of the same names are no taken name",
			"UNIQUE constraint failed: other.tenant, other.name_scope, other.display_name (2067)", false},
		{"a message without a column list is no taken name", "database is locked (5)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isNameTaken(tt.msg); got != tt.want {
				t.Fatalf("isNameTaken(%q) = %v, want %v", tt.msg, got, tt.want)
			}
		})
	}
}
