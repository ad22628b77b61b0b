package policy

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// KeyTemplate renders object keys such as "{tenant}/{category}/{uuid}{ext}".
//
// Placeholders: {tenant}, {category}, {uuid}, {ext} (lower-cased extension of
// the file name with its dot, or empty), {yyyy}, {mm}, {dd} (UTC date of the
// request) and {owner.<field>} (a required owner field of the request).
// Literal text may use letters, digits and "/._-". Parsing refuses anything
// else, so every rendered key is relative and free of ".." segments.
type KeyTemplate struct {
	source string
	parts  []keyPart
	// OwnerFields lists the owner fields the template uses.
	OwnerFields []string
}

type keyPart struct {
	literal string
	field   string // placeholder name, or "" for a literal
}

const (
	maxTemplateLength = 256
	// maxKeyLength is the longest key every backend accepts.
	maxKeyLength = 1024
)

var (
	literalPattern    = regexp.MustCompile(`^[A-Za-z0-9/._-]*$`)
	ownerFieldPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	// KeyValuePattern is what a tenant, category or owner value must look like
	// to be placed in a key.
	keyValuePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// ParseKeyTemplate parses and checks a key template.
func ParseKeyTemplate(src string) (*KeyTemplate, error) {
	if src == "" {
		return nil, fmt.Errorf("key template is empty")
	}
	if len(src) > maxTemplateLength {
		return nil, fmt.Errorf("key template is longer than %d bytes", maxTemplateLength)
	}
	t := &KeyTemplate{source: src}
	rest := src
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			t.parts = append(t.parts, keyPart{literal: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, keyPart{literal: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("key template %q: unclosed '{'", src)
		}
		name := rest[open+1 : open+end]
		switch {
		case name == "tenant", name == "category", name == "uuid", name == "ext",
			name == "yyyy", name == "mm", name == "dd":
		case strings.HasPrefix(name, "owner."):
			field := strings.TrimPrefix(name, "owner.")
			if !ownerFieldPattern.MatchString(field) {
				return nil, fmt.Errorf("key template %q: bad owner field name %q", src, field)
			}
			t.OwnerFields = append(t.OwnerFields, field)
		default:
			return nil, fmt.Errorf("key template %q: unknown placeholder {%s}", src, name)
		}
		t.parts = append(t.parts, keyPart{field: name})
		rest = rest[open+end+1:]
	}
	hasUUID := false
	for _, p := range t.parts {
		if p.field == "" {
			if !literalPattern.MatchString(p.literal) {
				return nil, fmt.Errorf("key template %q: literal text %q may only use letters, digits and /._-", src, p.literal)
			}
			if strings.Contains(p.literal, "//") || strings.Contains(p.literal, "..") {
				return nil, fmt.Errorf("key template %q: literal text %q contains \"//\" or \"..\"", src, p.literal)
			}
		}
		if p.field == "uuid" {
			hasUUID = true
		}
	}
	if strings.HasPrefix(src, "/") {
		return nil, fmt.Errorf("key template %q: must not start with '/'", src)
	}
	if !hasUUID {
		return nil, fmt.Errorf("key template %q: must contain {uuid} so that keys are unique", src)
	}
	return t, nil
}

// MustParseKeyTemplate is ParseKeyTemplate for templates known to be valid.
func MustParseKeyTemplate(src string) *KeyTemplate {
	t, err := ParseKeyTemplate(src)
	if err != nil {
		panic(err)
	}
	return t
}

// String returns the template source.
func (t *KeyTemplate) String() string { return t.source }

// KeyValues are the values a key template is rendered with.
type KeyValues struct {
	Tenant   string
	Category string
	UUID     string
	Filename string
	Owner    map[string]string
	Now      time.Time
}

// Render builds the key. A value that is not safe in a key (see
// keyValuePattern) or a missing owner field is a FieldError.
func (t *KeyTemplate) Render(v KeyValues) (string, error) {
	var b strings.Builder
	b.Grow(len(t.source) + 48)
	now := v.Now.UTC()
	for _, p := range t.parts {
		switch p.field {
		case "":
			b.WriteString(p.literal)
		case "tenant":
			if !keyValuePattern.MatchString(v.Tenant) {
				return "", fmt.Errorf("tenant %q cannot be used in an object key", v.Tenant)
			}
			b.WriteString(v.Tenant)
		case "category":
			b.WriteString(v.Category)
		case "uuid":
			b.WriteString(v.UUID)
		case "ext":
			b.WriteString(Extension(v.Filename))
		case "yyyy":
			fmt.Fprintf(&b, "%04d", now.Year())
		case "mm":
			fmt.Fprintf(&b, "%02d", int(now.Month()))
		case "dd":
			fmt.Fprintf(&b, "%02d", now.Day())
		default:
			field := strings.TrimPrefix(p.field, "owner.")
			val, ok := v.Owner[field]
			if !ok || val == "" {
				return "", &FieldError{"owner." + field, "is required by this category"}
			}
			if !keyValuePattern.MatchString(val) {
				return "", &FieldError{"owner." + field, "may only use letters, digits and ._- (at most 128, not starting with a symbol)"}
			}
			b.WriteString(val)
		}
	}
	key := b.String()
	if len(key) > maxKeyLength {
		return "", fmt.Errorf("key template %q rendered a key longer than %d bytes", t.source, maxKeyLength)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("key template %q rendered %q, which has an empty, \".\" or \"..\" segment", t.source, key)
		}
	}
	return key, nil
}
