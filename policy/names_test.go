package policy

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// seed003Names are the application-file rules of seed profile 003:
// 4-16 characters; letters, digits, dashes and single spaces; trimmed.
var seed003Names = NameRules{
	MinLength: 4, MaxLength: 16,
	Pattern:        regexp.MustCompile(`^[A-Za-z0-9-]+( [A-Za-z0-9-]+)*$`),
	Describe:       "may use letters, digits, dashes and single spaces",
	RepeatedSpaces: SpacesDeny,
}

func TestNameRules(t *testing.T) {
	tests := []struct {
		name    string
		rules   NameRules
		raw     string
		want    string
		wantErr string
	}{
		{"3 characters are too few", seed003Names, "abc", "", "at least 4 characters (got 3)"},
		{"4 characters are enough", seed003Names, "abcd", "abcd", ""},
		{"16 characters are allowed", seed003Names, "abcdefghij-12345", "abcdefghij-12345", ""},
		{"17 characters are too many", seed003Names, "abcdefghij-123456", "", "at most 16 characters (got 17)"},
		{"surrounding spaces are trimmed before counting", seed003Names, "   abc   ", "", "at least 4"},
		{"trimmed names keep their inner single spaces", seed003Names, "  setup bin  ", "setup bin", ""},
		{"repeated spaces are refused", seed003Names, "setup  bin", "", "repeated spaces"},
		{"underscores break the pattern", seed003Names, "setup_bin", "", "letters, digits, dashes and single spaces"},
		{"unicode letters break an ASCII pattern", seed003Names, "résumé", "", "letters, digits"},
		{"a name of spaces is empty", seed003Names, "     ", "", "must not be empty"},
		{"control characters are refused", seed003Names, "set\tup", "", "control characters"},
		{"lengths count characters, not bytes", NameRules{MaxLength: 4}, "éééé", "éééé", ""},
		{"five unicode characters exceed four", NameRules{MaxLength: 4}, "ééééé", "", "at most 4"},
		{"collapse turns runs into single spaces", NameRules{RepeatedSpaces: SpacesCollapse}, "a   b  c", "a b c", ""},
		{"allow keeps runs", NameRules{}, "a   b", "a   b", ""},
		{"no-trim keeps outer spaces", NameRules{NoTrim: true}, " a ", " a ", ""},
		{"invalid UTF-8 is refused", NameRules{}, "a\xffb", "", "UTF-8"},
		{"the default maximum is 255", NameRules{}, strings.Repeat("x", 256), "", "at most 255"},
		{"a right-to-left override is refused", NameRules{}, "x\u202egnp.exe", "", "U+202E at character 2"},
		{"a left-to-right isolate is refused", NameRules{}, "a\u2066b", "", "U+2066"},
		{"a zero-width space is refused", NameRules{}, "pay\u200bpal", "", "U+200B"},
		{"a zero-width joiner is refused by default", NameRules{}, "a\u200db", "", "U+200D"},
		{"a byte-order mark is refused", NameRules{}, "\ufeffreport", "", "U+FEFF"},
		{"format characters are kept when the rules allow them", NameRules{AllowFormatCharacters: true}, "a\u200db", "a\u200db", ""},
		{"visible non-ASCII letters are not format characters", NameRules{}, "Ölçü 日本", "Ölçü 日本", ""},
		{"huge input is refused cheaply", NameRules{}, strings.Repeat("x", 1<<20), "", "at most 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rules.Normalize("display_name", tt.raw)
			if tt.wantErr != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "display_name" || !strings.Contains(fe.Description, tt.wantErr) {
					t.Fatalf("Normalize(%q) = %q, %v; want a display_name error containing %q", tt.raw, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
			}
		})
	}
}

func TestCheckOwner(t *testing.T) {
	cat := &Category{Name: "imports", OwnerFields: map[string]FieldRule{
		"customer_id": {Required: true, Pattern: regexp.MustCompile(`^c_[0-9]+$`)},
		"source":      {Required: true, Values: []string{"field_value", "employee_import"}},
		"note":        {},
	}}
	tests := []struct {
		name   string
		owner  map[string]string
		fields []string
	}{
		{"all fields valid", map[string]string{"customer_id": "c_1", "source": "field_value"}, nil},
		{"missing required fields are each named", nil, []string{"owner.customer_id", "owner.source"}},
		{"a value outside the enum", map[string]string{"customer_id": "c_1", "source": "nope"}, []string{"owner.source"}},
		{"a value not matching the pattern", map[string]string{"customer_id": "x", "source": "field_value"}, []string{"owner.customer_id"}},
		{"an empty required value counts as missing", map[string]string{"customer_id": "", "source": "field_value"}, []string{"owner.customer_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fields []string
			var fes FieldErrors
			if err := cat.CheckOwner(tt.owner); errors.As(err, &fes) {
				for _, fe := range fes {
					fields = append(fields, fe.Field)
				}
			}
			if strings.Join(fields, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("violations %v, want %v", fields, tt.fields)
			}
		})
	}
}

func TestScope(t *testing.T) {
	scoped := &Category{Name: "files", ScopeField: "application_id"}
	if got, err := scoped.Scope(map[string]string{"application_id": "42"}); err != nil || got != "files/application_id=42" {
		t.Fatalf("Scope = %q, %v", got, err)
	}
	if _, err := scoped.Scope(nil); err == nil || !strings.Contains(err.Error(), "owner.application_id") {
		t.Fatalf("missing scope field: %v", err)
	}
	if got, _ := (&Category{Name: "docs"}).Scope(nil); got != "docs" {
		t.Fatalf("unscoped Scope = %q", got)
	}
}

func FuzzNameRules(f *testing.F) {
	for _, s := range []string{"setup-bin", "  a  b ", "ééé", "a\x00b", "\xff", strings.Repeat("a", 20)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, rules := range []NameRules{seed003Names, {RepeatedSpaces: SpacesCollapse}, {}} {
			name, err := rules.Normalize("display_name", raw)
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "display_name" {
					t.Fatalf("error without the field: %v", err)
				}
				continue
			}
			n := utf8.RuneCountInString(name)
			if n < rules.min() || n > rules.max() || !utf8.ValidString(name) || strings.TrimSpace(name) != name {
				t.Fatalf("accepted %q as %q (%d characters)", raw, name, n)
			}
			if rules.Pattern != nil && !rules.Pattern.MatchString(name) {
				t.Fatalf("accepted %q against the pattern", name)
			}
			again, err := rules.Normalize("display_name", name)
			if err != nil || again != name {
				t.Fatalf("normalising %q again gave %q, %v", name, again, err)
			}
		}
	})
}
