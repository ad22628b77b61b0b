package policy

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Repeated-space handling of a NameRules.
const (
	SpacesAllow    = "allow"    // keep runs of spaces as they are
	SpacesCollapse = "collapse" // turn each run of spaces into one space
	SpacesDeny     = "deny"     // refuse names with a run of spaces
)

// NameRules are a category's display-name rules. The zero value allows any
// name of 1-255 characters without control characters, after trimming.
type NameRules struct {
	// MinLength and MaxLength bound the length in characters (runes) after
	// normalisation. Zero means 1 and 255.
	MinLength int
	MaxLength int
	// Pattern, when set, must match the whole normalised name.
	Pattern *regexp.Regexp
	// Describe explains Pattern to people, as in "letters, digits, dashes
	// and single spaces".
	Describe string
	// NoTrim keeps leading and trailing white space.
	NoTrim bool
	// RepeatedSpaces is SpacesAllow (default), SpacesCollapse or SpacesDeny.
	RepeatedSpaces string
	// AllowFormatCharacters accepts invisible Unicode format characters
	// (category Cf) in display names and file names. By default they are
	// refused: bidi overrides make "x\u202egnp.exe" render as
	// "xexe.png", and zero-width characters make two names look alike.
	// Scripts that need the zero-width joiners can opt in.
	AllowFormatCharacters bool
}

// maxNameInput bounds the raw input examined, in bytes, so that a huge
// name costs nothing.
const maxNameInput = 4096

// Normalize applies the rules to a raw display name and returns the name to
// store, or a *FieldError for field that says which rule failed.
func (r NameRules) Normalize(field, raw string) (string, error) {
	if len(raw) > maxNameInput {
		return "", &FieldError{field, fmt.Sprintf("must be at most %d characters", r.max())}
	}
	if !utf8.ValidString(raw) {
		return "", &FieldError{field, "must be valid UTF-8"}
	}
	name := raw
	if !r.NoTrim {
		name = strings.TrimSpace(name)
	}
	for _, c := range name {
		if unicode.IsControl(c) {
			return "", &FieldError{field, "must not contain control characters"}
		}
	}
	if err := r.CheckFormatCharacters(field, name); err != nil {
		return "", err
	}
	switch r.RepeatedSpaces {
	case SpacesCollapse:
		name = collapseSpaces(name)
	case SpacesDeny:
		if strings.Contains(name, "  ") {
			return "", &FieldError{field, "must not contain repeated spaces"}
		}
	}
	n := utf8.RuneCountInString(name)
	switch {
	case n == 0:
		return "", &FieldError{field, "must not be empty"}
	case n < r.min():
		return "", &FieldError{field, fmt.Sprintf("must be at least %d characters (got %d)", r.min(), n)}
	case n > r.max():
		return "", &FieldError{field, fmt.Sprintf("must be at most %d characters (got %d)", r.max(), n)}
	}
	if r.Pattern != nil && !r.Pattern.MatchString(name) {
		desc := r.Describe
		if desc == "" {
			desc = "must match " + r.Pattern.String()
		}
		return "", &FieldError{field, desc}
	}
	return name, nil
}

func (r NameRules) min() int {
	if r.MinLength <= 0 {
		return 1
	}
	return r.MinLength
}

func (r NameRules) max() int {
	if r.MaxLength <= 0 {
		return 255
	}
	return r.MaxLength
}

func collapseSpaces(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	prevSpace := false
	for _, c := range s {
		if c == ' ' {
			if prevSpace {
				continue
			}
			prevSpace = true
		} else {
			prevSpace = false
		}
		b.WriteRune(c)
	}
	return b.String()
}

// FieldRule constrains one owner field of a request.
type FieldRule struct {
	Required bool
	// Values, when set, lists the allowed values.
	Values []string
	// Pattern, when set, must match the whole value.
	Pattern *regexp.Regexp
}

// CheckOwner applies the category's owner-field rules: required fields,
// allowed values and patterns. Fields without a rule are accepted as they
// are. Every violation is reported.
func (c *Category) CheckOwner(owner map[string]string) error {
	var errs FieldErrors
	for _, name := range sortedKeys(c.OwnerFields) {
		rule := c.OwnerFields[name]
		v, ok := owner[name]
		field := "owner." + name
		switch {
		case !ok || v == "":
			if rule.Required {
				errs = append(errs, &FieldError{field, fmt.Sprintf("is required in category %q", c.Name)})
			}
		case len(rule.Values) > 0 && !contains(rule.Values, v):
			errs = append(errs, &FieldError{field, fmt.Sprintf("must be one of %s", strings.Join(rule.Values, ", "))})
		case rule.Pattern != nil && !rule.Pattern.MatchString(v):
			errs = append(errs, &FieldError{field, "must match " + rule.Pattern.String()})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Scope returns the name/quota scope of a request in this category: the
// category name, plus the value of the scope owner field when the category
// has one ("files/application_id=42"). A missing scope field is a
// FieldError.
func (c *Category) Scope(owner map[string]string) (string, error) {
	if c.ScopeField == "" {
		return c.Name, nil
	}
	v := owner[c.ScopeField]
	if v == "" {
		return "", &FieldError{"owner." + c.ScopeField, fmt.Sprintf("is required in category %q (it scopes names and storage limits)", c.Name)}
	}
	return c.Name + "/" + c.ScopeField + "=" + v, nil
}

// AllowsCredential reports whether a credential of this kind may use the
// category.
func (c *Category) AllowsCredential(kind string) bool {
	return len(c.Credentials) == 0 || contains(c.Credentials, kind)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// CheckFormatCharacters returns a *FieldError for field when name holds an
// invisible Unicode format character (category Cf: bidi overrides and
// isolates, zero-width spaces and joiners, the byte-order mark, ...) and
// the rules do not allow them; the error names the first one.
func (r NameRules) CheckFormatCharacters(field, name string) error {
	if r.AllowFormatCharacters {
		return nil
	}
	for i, c := range []rune(name) {
		if unicode.Is(unicode.Cf, c) {
			return &FieldError{field, fmt.Sprintf("must not contain invisible formatting characters such as bidi overrides or zero-width characters (found U+%04X at character %d)", c, i+1)}
		}
	}
	return nil
}
