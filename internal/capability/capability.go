// Package capability names the optional capabilities a value has, for the
// Capabilities types of signer and store.
package capability

import "strings"

// Named is one optional capability: its name and whether it is present.
type Named struct {
	Name string
	Has  bool
}

// List names the capabilities present, in order and separated by spaces,
// or "none".
func List(capabilities ...Named) string {
	var names []string
	for _, c := range capabilities {
		if c.Has {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, " ")
}
