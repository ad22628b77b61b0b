package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// understoodCritical lists the JWS header extensions presignd implements
// and so may accept in a token's "crit" header (RFC 7515 §4.1.11). It
// implements none: a token that makes any extension critical is refused.
var understoodCritical = map[string]bool{}

// registeredHeaders are the header names RFC 7515 and RFC 7518 define for
// JWS; "crit" may not list them.
var registeredHeaders = map[string]bool{
	"alg": true, "jku": true, "jwk": true, "kid": true, "x5u": true, "x5c": true,
	"x5t": true, "x5t#S256": true, "typ": true, "cty": true, "crit": true,
}

// checkCritical enforces RFC 7515 §4.1.11 on the protected header of the
// compact JWS token: a "crit" header, when present, must be a non-empty
// array of distinct strings, none of them a registered header name, each
// naming a header that is present and that presignd understands. Any
// other "crit" is an error that says why (for logs).
func checkCritical(token string) error {
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return fmt.Errorf("protected header: %w", err)
	}
	// Most tokens have no "crit": find that out without building a map of
	// the header. Struct fields match keys case-insensitively, so this
	// sees every "crit" a stricter parser would, and a few more.
	var probe struct {
		Crit json.RawMessage `json:"crit"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return fmt.Errorf("protected header: %w", err)
	}
	if probe.Crit == nil {
		return nil
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw, &header); err != nil {
		return fmt.Errorf("protected header: %w", err)
	}
	critRaw, ok := header["crit"]
	if !ok {
		return nil // "Crit" or "CRIT": a private header, names are case-sensitive
	}
	var crit []any
	if err := json.Unmarshal(critRaw, &crit); err != nil || crit == nil {
		return errors.New(`"crit" is not an array`)
	}
	if len(crit) == 0 {
		return errors.New(`"crit" is empty`)
	}
	seen := make(map[string]bool, len(crit))
	for _, e := range crit {
		name, ok := e.(string)
		switch {
		case !ok:
			return fmt.Errorf(`"crit" holds %v, not a header name`, e)
		case name == "":
			return errors.New(`"crit" holds an empty name`)
		case seen[name]:
			return fmt.Errorf(`"crit" lists %q twice`, name)
		case registeredHeaders[name]:
			return fmt.Errorf(`"crit" lists the registered header %q`, name)
		case header[name] == nil:
			return fmt.Errorf(`"crit" lists %q, which the header lacks`, name)
		case !understoodCritical[name]:
			return fmt.Errorf(`"crit" lists the extension %q, which presignd does not implement`, name)
		}
		seen[name] = true
	}
	return nil
}
